import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {AVForwardInputs, NattenAVForward, namedInputs} from '../kernel_names';
import {avInfo, run, shaped} from './kernel_util';
import {Backend, deviceLimits, geometryUniforms} from './program_util';
import {SlotGatherProgram} from './slot_gather_webgpu';

export const avForward: KernelFunc = ({inputs, backend, attrs}): TensorInfo => {
  const {weights, value, additionalValues} = namedInputs<AVForwardInputs>(inputs, attrs!);
  const info = avInfo(weights, value, attrs!);
  const gpu = backend as Backend;
  const program = new SlotGatherProgram(additionalValues != null, info.outShape.reduce((a, b) => a * b, 1),
                                        deviceLimits(gpu).maxComputeWorkgroupsPerDimension);
  return shaped(run(gpu, program, [weights, value, additionalValues], geometryUniforms(info, program.count)),
                info.outShape);
};

export const avForwardConfig: KernelConfig = {kernelName: NattenAVForward, backendName: 'webgpu', kernelFunc: avForward};
