import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {AVBackwardInputs, NattenAVBackward} from '../kernel_names';
import {avInfo, run, shaped} from './kernel_util';
import {ExtraReduceProgram} from './extra_reduce_webgpu';
import {Backend, deviceLimits, geometryUniforms} from './program_util';
import {SlotDotProgram} from './slot_dot_webgpu';
import {SlotScatterProgram} from './slot_scatter_webgpu';

/** dWeights are dO . value per slot (0 in masked slots), dValue gathers over each key's inverse window. */
export const avBackward: KernelFunc = ({inputs, backend, attrs}): TensorInfo[] => {
  const {weights, value, additionalValues, dOutput} = inputs as unknown as AVBackwardInputs;
  const info = avInfo(weights, value, attrs!);  // a fresh object
  info.scale = 1;
  const gpu = backend as Backend;
  const maxDim = deviceLimits(gpu).maxComputeWorkgroupsPerDimension;
  const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
  const dw = new SlotDotProgram(false, additionalValues != null, false, size(weights.shape), maxDim);
  const dv = new SlotScatterProgram(size(value.shape), maxDim);
  const outs = [
    shaped(run(gpu, dw, [dOutput, value, additionalValues], geometryUniforms(info, dw.count)), weights.shape),
    shaped(run(gpu, dv, [weights, dOutput], geometryUniforms(info, dv.count)), value.shape),
  ];
  if (additionalValues != null) {
    const program = new ExtraReduceProgram(size(additionalValues.shape), maxDim);
    outs.push(shaped(run(gpu, program, [weights, dOutput], geometryUniforms(info, program.count)),
                     additionalValues.shape));
  }
  return outs;
};

export const avBackwardConfig: KernelConfig = {kernelName: NattenAVBackward, backendName: 'webgpu',
                                               kernelFunc: avBackward};
