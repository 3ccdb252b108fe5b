/** What the CUDA kernels share: the problem record the addon takes, the options, and the error wrapping. */
import {getBackend, NamedAttrMap} from '@tensorflow/tfjs-core';
import type {NAInfo} from '../../core/na_info';
import type {NAAttrs} from '../kernel_names';
import {cudaAddon, CudaOptions, CudaProblem, NattenCudaAddon} from './addon';

/**
 * Set to '0' or 'false' to run the fused CUDA kernels in full float32 everywhere (as the op option
 * `allowTf32: false` does per call).
 */
export const NATTEN_CUDA_ALLOW_TF32 = 'NATTEN_CUDA_ALLOW_TF32';
/** Set to 'reference' to run the simple reference CUDA kernels instead of the fast ones (debugging). */
export const NATTEN_CUDA_IMPL = 'NATTEN_CUDA_IMPL';

export function cudaProblem(info: NAInfo): CudaProblem {
  return {
    batch: info.batch,
    heads: info.heads,
    headsKv: info.headsKv,
    headDim: info.headDim,
    headDimV: info.headDimV,
    nExtra: info.nExtra,
    length: info.L3,
    kernel: info.k3,
    stride: info.s3,
    dilation: info.d3,
    causal: info.causal3.map(c => (c ? 1 : 0)),
    hasRpb: info.hasRpb,
    scale: info.scale,
  };
}

function envFalse(name: string): boolean {
  const v = typeof process === 'undefined' ? undefined : process.env?.[name];
  return v != null && ['0', 'false', 'no', 'off'].includes(v.toLowerCase());
}

/** TF32 unless the call (allowTf32: false) or the environment asks for full float32; read on every call. */
export function cudaOptions(attrs: NamedAttrMap): CudaOptions {
  const allowTf32 = (attrs as unknown as NAAttrs).allowTf32 !== false && !envFalse(NATTEN_CUDA_ALLOW_TF32);
  const impl = typeof process === 'undefined' ? undefined : process.env?.[NATTEN_CUDA_IMPL];
  return {precision: allowTf32 ? 'tf32' : 'float32', implementation: impl === 'reference' ? 'reference' : 'auto'};
}

/** The public op a kernel serves, for error messages: `na2d`, `na2dQK backward`, ... */
export function opLabel(info: NAInfo, split: '' | 'QK' | 'AV', backward: boolean): string {
  return `na${info.naDim}d${split}${backward ? ' backward' : ''}`;
}

/**
 * Runs `fn` with the addon; a CUDA failure (out of memory, a failed launch) becomes an Error naming the op,
 * with a hint where tfjs-node-gpu's TensorFlow is the likely reason the memory ran out.
 */
export function withCuda<T>(label: string, fn: (addon: NattenCudaAddon) => T): T {
  const addon = cudaAddon();
  try {
    return fn(addon);
  } catch (e) {
    // Errors thrown by the addon may come from another realm (jest's vm): read the message, not instanceof.
    const message = typeof (e as Error)?.message === 'string' ? (e as Error).message : String(e);
    const hint = getBackend() === 'tensorflow' && /out of memory|MemoryAllocation/.test(message) ?
        ' (TensorFlow reserves most GPU memory by default: set TF_FORCE_GPU_ALLOW_GROWTH=true)' :
        '';
    throw new Error(`${label}: ${message}${hint}`);
  }
}
