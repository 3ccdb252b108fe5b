import type {KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {namedInputs, NAForwardInputs} from '../kernel_names';
import {qkvInfo, readF32, writeF32} from '../host_io';
import {cudaOptions, cudaProblem, opLabel, withCuda} from './cuda_util';

export const naForwardCuda: KernelFunc = ({inputs, backend, attrs}): TensorInfo[] => {
  const {query, key, value, rpb, additionalKeys, additionalValues} = namedInputs<NAForwardInputs>(inputs, attrs!);
  const info = qkvInfo(query, key, value, additionalKeys, rpb, attrs!);
  const r = withCuda(opLabel(info, '', false), addon => addon.naForward(cudaProblem(info), {
    query: readF32(backend, query), key: readF32(backend, key), value: readF32(backend, value),
    rpb: readF32(backend, rpb), additionalKeys: readF32(backend, additionalKeys),
    additionalValues: readF32(backend, additionalValues),
  }, cudaOptions(attrs!)));
  return [writeF32(backend, r.output, info.outShape), writeF32(backend, r.lse, info.lseShape)];
};
