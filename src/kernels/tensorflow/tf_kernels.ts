/**
 * The NA kernels of tfjs-node's `tensorflow` backend. Each runs its TensorFlow op (natten_tf,
 * native/src/tf) on the backend's own tensors with `executeMultipleOutputs`: nothing is copied through
 * `readSync` / `write`. Where the ops are unavailable (natten_tf not built or not loadable, another backend
 * registered as `tensorflow`) or turned off (NATTEN_TF_OPS), the host kernels of ../cpu run instead.
 *
 * The six kernels differ only in their inputs, outputs and attributes, so one table describes them and one
 * function runs them. The op signatures (native/src/tf/README.md): the fixed inputs, then a list `optional`
 * of N tensors (rpb, additional keys, additional values, dLse: those present, in that order), and for
 * backward ops the fixed gradients, then a list `d_optional` of M gradients of the optional inputs.
 */
import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {useTfOps} from '../../flags';
import {namedInputs, NAAttrs, NattenAVBackward, NattenAVForward, NattenNABackward, NattenNAForward,
        NattenQKBackward, NattenQKForward} from '../kernel_names';
import {avBackward} from '../cpu/NattenAVBackward';
import {avForward} from '../cpu/NattenAVForward';
import {naBackward} from '../cpu/NattenNABackward';
import {naForward} from '../cpu/NattenNAForward';
import {qkBackward} from '../cpu/NattenQKBackward';
import {qkForward} from '../cpu/NattenQKForward';
import {loadTfOps, TfjsNodeBackend, TfOpAttr} from './tf_ops';

interface OpSpec {
  kernelName: string;
  /** Forward kernels get their inputs as an array named by `inputNames` (kernel_names.ts). */
  arrayInputs: boolean;
  /** Fixed inputs, in the op's order. */
  inputs: string[];
  /** Optional inputs in the op's `optional` list order; present ones are passed. */
  optional: string[];
  /** Fixed outputs; backward ops then return one gradient per present input named in `gradients`. */
  outputs: number;
  gradients?: string[];
  /** Attributes the op declares beyond the window and N (and M when it has gradients). */
  scale: boolean;
  hasRpb: boolean;
  hasDLse: boolean;
  host: KernelFunc;
}

const SPECS: OpSpec[] = [
  {kernelName: NattenNAForward, arrayInputs: true, inputs: ['query', 'key', 'value'],
   optional: ['rpb', 'additionalKeys', 'additionalValues'], outputs: 2, scale: true, hasRpb: true, hasDLse: false,
   host: naForward},
  {kernelName: NattenNABackward, arrayInputs: false,
   inputs: ['query', 'key', 'value', 'output', 'lse', 'dOutput'],
   optional: ['rpb', 'additionalKeys', 'additionalValues', 'dLse'], outputs: 3,
   gradients: ['rpb', 'additionalKeys', 'additionalValues'], scale: true, hasRpb: true, hasDLse: true,
   host: naBackward},
  {kernelName: NattenQKForward, arrayInputs: true, inputs: ['query', 'key'], optional: ['rpb', 'additionalKeys'],
   outputs: 1, scale: true, hasRpb: true, hasDLse: false, host: qkForward},
  // The rpb gradient's shape follows from the attributes: the op takes has_rpb, not rpb itself.
  {kernelName: NattenQKBackward, arrayInputs: false, inputs: ['query', 'key', 'dLogits'],
   optional: ['additionalKeys'], outputs: 2, gradients: ['rpb', 'additionalKeys'], scale: true, hasRpb: true,
   hasDLse: false, host: qkBackward},
  {kernelName: NattenAVForward, arrayInputs: true, inputs: ['weights', 'value'], optional: ['additionalValues'],
   outputs: 1, scale: false, hasRpb: false, hasDLse: false, host: avForward},
  {kernelName: NattenAVBackward, arrayInputs: false, inputs: ['weights', 'value', 'dOutput'],
   optional: ['additionalValues'], outputs: 2, gradients: ['additionalValues'], scale: false, hasRpb: false,
   hasDLse: false, host: avBackward},
];

function opAttrs(backend: TfjsNodeBackend, spec: OpSpec, attrs: NAAttrs, named: Record<string, TensorInfo | undefined>,
                 n: number, m: number): TfOpAttr[] {
  const {TF_ATTR_INT: INT, TF_ATTR_FLOAT: FLOAT, TF_ATTR_BOOL: BOOL} = backend.binding;
  const out: TfOpAttr[] = [
    {name: 'kernel_size', type: INT, value: attrs.kernelSize},
    {name: 'stride', type: INT, value: attrs.stride},
    {name: 'dilation', type: INT, value: attrs.dilation},
    {name: 'is_causal', type: BOOL, value: attrs.isCausal},
    {name: 'has_extra', type: BOOL, value: named.additionalKeys != null || named.additionalValues != null},
    {name: 'N', type: INT, value: n},
  ];
  if (spec.scale) {
    out.push({name: 'scale', type: FLOAT, value: attrs.scale});
  }
  if (spec.hasRpb) {
    out.push({name: 'has_rpb', type: BOOL, value: named.rpb != null});
  }
  if (spec.hasDLse) {
    out.push({name: 'has_d_lse', type: BOOL, value: named.dLse != null});
  }
  if (spec.gradients != null) {
    out.push({name: 'M', type: INT, value: m});
  }
  return out;
}

function tfKernel(spec: OpSpec): KernelFunc {
  return (args) => {
    const {inputs, backend, attrs} = args;
    const ops = useTfOps() ? loadTfOps(backend) : null;
    if (ops == null) {
      return spec.host(args);
    }
    const tfBackend = backend as unknown as TfjsNodeBackend;
    const named = (spec.arrayInputs ? namedInputs(inputs, attrs!) : inputs) as Record<string, TensorInfo | undefined>;
    const optional = spec.optional.map(name => named[name]).filter((t): t is TensorInfo => t != null);
    const gradients = (spec.gradients ?? []).filter(name => named[name] != null).length;
    const list = [...spec.inputs.map(name => named[name]!), ...optional];
    const outputs = tfBackend.executeMultipleOutputs(
        spec.kernelName, opAttrs(tfBackend, spec, attrs as unknown as NAAttrs, named, optional.length, gradients),
        list, spec.outputs + gradients);
    // A kernel with one output returns it alone, like the host kernels (the op then gets a tensor, not a list).
    return outputs.length === 1 ? outputs[0] : outputs;
  };
}

/** The `tensorflow` backend's NA kernels. */
export const tfKernelConfigs: KernelConfig[] =
    SPECS.map(spec => ({kernelName: spec.kernelName, backendName: 'tensorflow', kernelFunc: tfKernel(spec)}));

