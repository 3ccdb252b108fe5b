import {engine} from '@tensorflow/tfjs-core';
import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {ForwardAttrs, NAForwardInputs, NattenNAForward, namedInputs} from '../kernel_names';
import {getCpuKeepWeights, getCpuKernelPath} from '../../flags';
import {qkvInfo, readF32, writeF32} from './host_util';
import {naForwardImpl} from './na_impl';

// Under a tape on `cpu` only: there the backward is handed the logsumexp array this kernel wrote, by which it finds
// the weights (na_native.ts); the `tensorflow` backend's readSync gives a copy.
const keepWeights = (attrs: ForwardAttrs) =>
    attrs.training === true && engine().backendName === 'cpu' && getCpuKeepWeights();

export const naForward: KernelFunc = ({inputs, backend, attrs}): TensorInfo[] => {
  const {query, key, value, rpb, additionalKeys, additionalValues} = namedInputs<NAForwardInputs>(inputs, attrs!);
  const info = qkvInfo(query, key, value, additionalKeys, rpb, attrs!);
  const {output, lse} = naForwardImpl(info, readF32(backend, query), readF32(backend, key), readF32(backend, value),
                                      readF32(backend, rpb), readF32(backend, additionalKeys),
                                      readF32(backend, additionalValues), getCpuKernelPath(),
                                      keepWeights(attrs as unknown as ForwardAttrs));
  return [writeF32(backend, output, info.outShape), writeF32(backend, lse, info.lseShape)];
};

/** The `cpu` backend's kernel (also the `tensorflow` backend's host fallback: src/kernels/tensorflow). */
export const naForwardConfig: KernelConfig = {kernelName: NattenNAForward, backendName: 'cpu', kernelFunc: naForward};
