import type {KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {QKBackwardInputs} from '../kernel_names';
import {qkvInfo, readF32, writeF32} from '../host_io';
import {cudaOptions, cudaProblem, opLabel, withCuda} from './cuda_util';

export const qkBackwardCuda: KernelFunc = ({inputs, backend, attrs}): TensorInfo[] => {
  const {query, key, rpb, additionalKeys, dLogits} = inputs as unknown as QKBackwardInputs;
  const info = qkvInfo(query, key, null, additionalKeys, rpb, attrs!);
  const r = withCuda(opLabel(info, 'QK', true), addon => addon.qkBackward(cudaProblem(info), {
    query: readF32(backend, query), key: readF32(backend, key), additionalKeys: readF32(backend, additionalKeys),
    dLogits: readF32(backend, dLogits),
  }, cudaOptions(attrs!)));
  const outs = [writeF32(backend, r.dQuery, query.shape), writeF32(backend, r.dKey, key.shape)];
  if (rpb != null) {
    outs.push(writeF32(backend, r.dRpb, rpb.shape));
  }
  if (additionalKeys != null) {
    outs.push(writeF32(backend, r.dAdditionalKeys, additionalKeys.shape));
  }
  return outs;
};
