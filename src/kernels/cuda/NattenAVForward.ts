import type {KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {AVForwardInputs, namedInputs} from '../kernel_names';
import {avInfo, readF32, writeF32} from '../host_io';
import {cudaOptions, cudaProblem, opLabel, withCuda} from './cuda_util';

export const avForwardCuda: KernelFunc = ({inputs, backend, attrs}): TensorInfo => {
  const {weights, value, additionalValues} = namedInputs<AVForwardInputs>(inputs, attrs!);
  const info = avInfo(weights, value, attrs!);
  const r = withCuda(opLabel(info, 'AV', false), addon => addon.avForward(cudaProblem(info), {
    weights: readF32(backend, weights), value: readF32(backend, value),
    additionalValues: readF32(backend, additionalValues),
  }, cudaOptions(attrs!)));
  return writeF32(backend, r.output, info.outShape);
};
