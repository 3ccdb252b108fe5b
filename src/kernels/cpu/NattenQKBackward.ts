import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {NattenQKBackward, QKBackwardInputs} from '../kernel_names';
import {getCpuKernelPath} from '../../flags';
import {qkvInfo, readF32, writeF32} from './host_util';
import {qkBackwardImpl} from './na_impl';

export const qkBackward: KernelFunc = ({inputs, backend, attrs}): TensorInfo[] => {
  const {query, key, rpb, additionalKeys, dLogits} = inputs as unknown as QKBackwardInputs;
  const info = qkvInfo(query, key, null, additionalKeys, rpb, attrs!);
  const r = qkBackwardImpl(info, readF32(backend, dLogits), readF32(backend, query), readF32(backend, key),
                           rpb != null, readF32(backend, additionalKeys), getCpuKernelPath());
  const outs = [writeF32(backend, r.dQuery, query.shape), writeF32(backend, r.dKey, key.shape)];
  if (r.dRpb != null) {
    outs.push(writeF32(backend, r.dRpb, rpb!.shape));
  }
  if (r.dAdditionalKeys != null) {
    outs.push(writeF32(backend, r.dAdditionalKeys, additionalKeys!.shape));
  }
  return outs;
};

/** The `cpu` backend's kernel (also the `tensorflow` backend's host fallback: src/kernels/tensorflow). */
export const qkBackwardConfig: KernelConfig = {kernelName: NattenQKBackward, backendName: 'cpu', kernelFunc: qkBackward};
