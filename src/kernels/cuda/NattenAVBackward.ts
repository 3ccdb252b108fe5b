import type {KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {AVBackwardInputs} from '../kernel_names';
import {avInfo, readF32, writeF32} from '../host_io';
import {cudaOptions, cudaProblem, opLabel, withCuda} from './cuda_util';

export const avBackwardCuda: KernelFunc = ({inputs, backend, attrs}): TensorInfo[] => {
  const {weights, value, additionalValues, dOutput} = inputs as unknown as AVBackwardInputs;
  const info = avInfo(weights, value, attrs!);
  const r = withCuda(opLabel(info, 'AV', true), addon => addon.avBackward(cudaProblem(info), {
    weights: readF32(backend, weights), value: readF32(backend, value),
    additionalValues: readF32(backend, additionalValues), dOutput: readF32(backend, dOutput),
  }, cudaOptions(attrs!)));
  const outs = [writeF32(backend, r.dWeights, weights.shape), writeF32(backend, r.dValue, value.shape)];
  if (additionalValues != null) {
    outs.push(writeF32(backend, r.dAdditionalValues, additionalValues.shape));
  }
  return outs;
};
