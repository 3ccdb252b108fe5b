import type {KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {NABackwardInputs} from '../kernel_names';
import {qkvInfo, readF32, writeF32} from '../host_io';
import {cudaOptions, cudaProblem, opLabel, withCuda} from './cuda_util';

export const naBackwardCuda: KernelFunc = ({inputs, backend, attrs}): TensorInfo[] => {
  const {query, key, value, rpb, additionalKeys, additionalValues, output, lse, dOutput, dLse} =
      inputs as unknown as NABackwardInputs;
  const info = qkvInfo(query, key, value, additionalKeys, rpb, attrs!);
  const r = withCuda(opLabel(info, '', true), addon => addon.naBackward(cudaProblem(info), {
    query: readF32(backend, query), key: readF32(backend, key), value: readF32(backend, value),
    rpb: readF32(backend, rpb), additionalKeys: readF32(backend, additionalKeys),
    additionalValues: readF32(backend, additionalValues), output: readF32(backend, output), lse: readF32(backend, lse),
    dOutput: readF32(backend, dOutput), dLse: readF32(backend, dLse),
  }, cudaOptions(attrs!)));
  const outs = [
    writeF32(backend, r.dQuery, query.shape), writeF32(backend, r.dKey, key.shape),
    writeF32(backend, r.dValue, value.shape),
  ];
  if (rpb != null) {
    outs.push(writeF32(backend, r.dRpb, rpb.shape));
  }
  if (additionalKeys != null) {
    outs.push(writeF32(backend, r.dAdditionalKeys, additionalKeys.shape));
    outs.push(writeF32(backend, r.dAdditionalValues, additionalValues!.shape));
  }
  return outs;
};
