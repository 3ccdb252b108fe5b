import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {NattenQKBackward, QKBackwardInputs} from '../kernel_names';
import {qkvInfo, run, shaped} from './kernel_util';
import {ExtraReduceProgram} from './extra_reduce_webgpu';
import {Backend, deviceLimits, geometryUniforms} from './program_util';
import {rpbGradient} from './rpb_grad_webgpu';
import {SlotGatherProgram} from './slot_gather_webgpu';
import {SlotScatterProgram} from './slot_scatter_webgpu';

/** dq gathers over each query's window, dk over each key's inverse window, drpb and the extra keys reduce. */
export const qkBackward: KernelFunc = ({inputs, backend, attrs}): TensorInfo[] => {
  const {query, key, rpb, additionalKeys, dLogits} = inputs as unknown as QKBackwardInputs;
  const info = qkvInfo(query, key, null, additionalKeys, rpb, attrs!);
  const gpu = backend as Backend;
  const maxDim = deviceLimits(gpu).maxComputeWorkgroupsPerDimension;
  const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
  const dqProgram = new SlotGatherProgram(additionalKeys != null, size(query.shape), maxDim);
  const dkProgram = new SlotScatterProgram(size(key.shape), maxDim);
  const outs = [
    shaped(run(gpu, dqProgram, [dLogits, key, additionalKeys], geometryUniforms(info, dqProgram.count)), query.shape),
    shaped(run(gpu, dkProgram, [dLogits, query], geometryUniforms(info, dkProgram.count)), key.shape),
  ];
  if (rpb != null) {
    outs.push(shaped(rpbGradient(gpu, info, 'given', [dLogits]), rpb.shape));
  }
  if (additionalKeys != null) {
    const program = new ExtraReduceProgram(size(additionalKeys.shape), maxDim);
    outs.push(shaped(run(gpu, program, [dLogits, query], geometryUniforms(info, program.count)), additionalKeys.shape));
  }
  return outs;
};

export const qkBackwardConfig: KernelConfig = {kernelName: NattenQKBackward, backendName: 'webgpu',
                                               kernelFunc: qkBackward};
