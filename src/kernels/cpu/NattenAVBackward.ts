import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {AVBackwardInputs, NattenAVBackward} from '../kernel_names';
import {getCpuKernelPath} from '../../flags';
import {avInfo, readF32, writeF32} from './host_util';
import {avBackwardImpl} from './na_impl';

export const avBackward: KernelFunc = ({inputs, backend, attrs}): TensorInfo[] => {
  const {weights, value, additionalValues, dOutput} = inputs as unknown as AVBackwardInputs;
  const info = avInfo(weights, value, attrs!);
  const r = avBackwardImpl(info, readF32(backend, dOutput), readF32(backend, weights), readF32(backend, value),
                           readF32(backend, additionalValues), getCpuKernelPath());
  const outs = [writeF32(backend, r.dWeights, weights.shape), writeF32(backend, r.dValue, value.shape)];
  if (r.dAdditionalValues != null) {
    outs.push(writeF32(backend, r.dAdditionalValues, additionalValues!.shape));
  }
  return outs;
};

/** The `cpu` backend's kernel (also the `tensorflow` backend's host fallback: src/kernels/tensorflow). */
export const avBackwardConfig: KernelConfig = {kernelName: NattenAVBackward, backendName: 'cpu', kernelFunc: avBackward};
