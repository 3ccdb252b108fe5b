import type {KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {namedInputs, QKForwardInputs} from '../kernel_names';
import {qkvInfo, readF32, writeF32} from '../host_io';
import {cudaOptions, cudaProblem, opLabel, withCuda} from './cuda_util';

export const qkForwardCuda: KernelFunc = ({inputs, backend, attrs}): TensorInfo => {
  const {query, key, rpb, additionalKeys} = namedInputs<QKForwardInputs>(inputs, attrs!);
  const info = qkvInfo(query, key, null, additionalKeys, rpb, attrs!);
  const r = withCuda(opLabel(info, 'QK', false), addon => addon.qkForward(cudaProblem(info), {
    query: readF32(backend, query), key: readF32(backend, key), rpb: readF32(backend, rpb),
    additionalKeys: readF32(backend, additionalKeys),
  }, cudaOptions(attrs!)));
  return writeF32(backend, r.logits, info.weightsShape);
};
