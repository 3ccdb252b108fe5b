import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {NABackwardInputs, NattenNABackward} from '../kernel_names';
import {getCpuKernelPath} from '../../flags';
import {qkvInfo, readF32, writeF32} from './host_util';
import {naBackwardImpl} from './na_impl';

export const naBackward: KernelFunc = ({inputs, backend, attrs}): TensorInfo[] => {
  const {query, key, value, rpb, additionalKeys, additionalValues, output, lse, dOutput, dLse} =
      inputs as unknown as NABackwardInputs;
  const info = qkvInfo(query, key, value, additionalKeys, rpb, attrs!);
  const r = naBackwardImpl(info, readF32(backend, query), readF32(backend, key), readF32(backend, value),
                           readF32(backend, output), readF32(backend, lse), readF32(backend, dOutput),
                           readF32(backend, dLse), readF32(backend, rpb), readF32(backend, additionalKeys),
                           readF32(backend, additionalValues), getCpuKernelPath());
  const outs = [
    writeF32(backend, r.dQuery, query.shape), writeF32(backend, r.dKey, key.shape),
    writeF32(backend, r.dValue, value.shape),
  ];
  if (r.dRpb != null) {
    outs.push(writeF32(backend, r.dRpb, rpb!.shape));
  }
  if (r.dAdditionalKeys != null) {
    outs.push(writeF32(backend, r.dAdditionalKeys, additionalKeys!.shape));
    outs.push(writeF32(backend, r.dAdditionalValues!, additionalValues!.shape));
  }
  return outs;
};

/** The `cpu` backend's kernel (also the `tensorflow` backend's host fallback: src/kernels/tensorflow). */
export const naBackwardConfig: KernelConfig = {kernelName: NattenNABackward, backendName: 'cpu', kernelFunc: naBackward};
