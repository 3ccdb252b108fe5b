import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {NattenQKForward, QKForwardInputs, namedInputs} from '../kernel_names';
import {getCpuKernelPath} from '../../flags';
import {qkvInfo, readF32, writeF32} from './host_util';
import {qkForwardImpl} from './na_impl';

export const qkForward: KernelFunc = ({inputs, backend, attrs}): TensorInfo => {
  const {query, key, rpb, additionalKeys} = namedInputs<QKForwardInputs>(inputs, attrs!);
  const info = qkvInfo(query, key, null, additionalKeys, rpb, attrs!);
  const logits = qkForwardImpl(info, readF32(backend, query), readF32(backend, key), readF32(backend, rpb),
                               readF32(backend, additionalKeys), getCpuKernelPath());
  return writeF32(backend, logits, info.weightsShape);
};

/** The `cpu` backend's kernel (also the `tensorflow` backend's host fallback: src/kernels/tensorflow). */
export const qkForwardConfig: KernelConfig = {kernelName: NattenQKForward, backendName: 'cpu', kernelFunc: qkForward};
