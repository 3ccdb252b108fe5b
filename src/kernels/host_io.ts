/**
 * Host-memory glue shared by every kernel of the host backends (`cpu`, and tfjs-node's `tensorflow`): the
 * CPU kernels and the CUDA kernels both read their inputs with `backend.readSync` and write their outputs
 * with `backend.write`, which every backend has.
 */
import type {KernelBackend, TensorInfo} from '@tensorflow/tfjs-core';
export {avInfo, qkvInfo} from './kernel_info';

/** Backends whose tensors live in host memory: NA runs on the CPU there (the CPU kernels, or TensorFlow's CPU
 * ops), or through CUDA where it is enabled. */
export const HOST_BACKENDS = ['cpu', 'tensorflow'] as const;

// KernelFunc hands kernels the backend typed as `{}`; these helpers take it as is.
export function readF32(backend: unknown, t: TensorInfo): Float32Array;
export function readF32(backend: unknown, t: TensorInfo | undefined): Float32Array | null;
export function readF32(backend: unknown, t: TensorInfo | undefined): Float32Array | null {
  if (t == null) {
    return null;
  }
  const values = (backend as KernelBackend).readSync(t.dataId);
  return values instanceof Float32Array ? values : Float32Array.from(values as ArrayLike<number>);
}

export function writeF32(backend: unknown, values: Float32Array, shape: number[]): TensorInfo {
  return {dataId: (backend as KernelBackend).write(values, shape, 'float32'), shape, dtype: 'float32'};
}
