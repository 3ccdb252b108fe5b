import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {NattenQKForward, QKForwardInputs, namedInputs} from '../kernel_names';
import {qkvInfo, run, shaped} from './kernel_util';
import {Backend, checkBindable, deviceLimits, geometryUniforms} from './program_util';
import {SlotDotProgram} from './slot_dot_webgpu';

export const qkForward: KernelFunc = ({inputs, backend, attrs}): TensorInfo => {
  const {query, key, rpb, additionalKeys} = namedInputs<QKForwardInputs>(inputs, attrs!);
  const info = qkvInfo(query, key, null, additionalKeys, rpb, attrs!);
  const gpu = backend as Backend;
  const limits = deviceLimits(gpu);
  const size = info.batch * info.numTokens * info.heads * info.numSlots;
  checkBindable('NattenQKForward', limits, [['logits', size]]);
  const program = new SlotDotProgram(rpb != null, additionalKeys != null, true, size,
                                     limits.maxComputeWorkgroupsPerDimension);
  return shaped(run(gpu, program, [query, key, rpb, additionalKeys], geometryUniforms(info, program.count)),
                info.weightsShape);
};

export const qkForwardConfig: KernelConfig = {kernelName: NattenQKForward, backendName: 'webgpu', kernelFunc: qkForward};
