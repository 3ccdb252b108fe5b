import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {AVForwardInputs, NattenAVForward, namedInputs} from '../kernel_names';
import {getCpuKernelPath} from '../../flags';
import {avInfo, readF32, writeF32} from './host_util';
import {avForwardImpl} from './na_impl';

export const avForward: KernelFunc = ({inputs, backend, attrs}): TensorInfo => {
  const {weights, value, additionalValues} = namedInputs<AVForwardInputs>(inputs, attrs!);
  const info = avInfo(weights, value, attrs!);
  const output = avForwardImpl(info, readF32(backend, weights), readF32(backend, value),
                               readF32(backend, additionalValues), getCpuKernelPath());
  return writeF32(backend, output, info.outShape);
};

/** The `cpu` backend's kernel (also the `tensorflow` backend's host fallback: src/kernels/tensorflow). */
export const avForwardConfig: KernelConfig = {kernelName: NattenAVForward, backendName: 'cpu', kernelFunc: avForward};
