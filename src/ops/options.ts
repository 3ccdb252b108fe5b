/** Public option types of the NA ops. */
import type {Tensor} from '@tensorflow/tfjs-core';

/** Options shared by the fused and split NA ops. Per-axis options take a number or one value per axis. */
export interface NAWindowOptions {
  /** Window size per spatial axis, >= 2, with `kernelSize * dilation <= length`. Required. */
  kernelSize: number | number[];
  /** Stride of the window per axis (queries in a group of `stride` share a window), 1..kernelSize. Default 1. */
  stride?: number | number[];
  /** Dilation per axis, >= 1. Default 1. */
  dilation?: number | number[];
  /** Causal masking per axis: a query only sees keys at or before it. Default false. */
  isCausal?: boolean | boolean[];
}

/** Options of the fused ops `na1d/na2d/na3d`. */
export interface NAOptions extends NAWindowOptions {
  /** Softmax scale; default `1/sqrt(headDim)`. */
  scale?: number;
  /** Relative positional bias `[heads, 2*k0-1 (, 2*k1-1 (, 2*k2-1))]`. */
  rpb?: Tensor;
  /** Extra key tokens `[batch, nExtra, headsKv, headDim]` every query attends to (never masked). */
  additionalKeys?: Tensor;
  /** Extra value tokens `[batch, nExtra, headsKv, headDimV]`; given together with additionalKeys. */
  additionalValues?: Tensor;
  /** When true the fused ops return `[output, logsumexp]`. Default false. */
  returnLse?: boolean;
  /**
   * Whether the CUDA kernels may multiply in TF32 on tensor cores (10-bit mantissas, float32 accumulation:
   * TensorFlow's default for float32 on Ampere and newer GPUs). Default true; false asks for full float32
   * (as does the environment variable NATTEN_CUDA_ALLOW_TF32=0). Every other backend computes in float32
   * and ignores it.
   */
  allowTf32?: boolean;
}

/**
 * Options of `naXdQK`. `additionalValues` and `returnLse` are accepted and ignored (options can be shared);
 * so is `allowTf32`, since the split ops' CUDA kernels always compute in float32.
 */
export type NAQKOptions = NAOptions;

/**
 * Options of `naXdAV`: the window options and `additionalValues`. `scale`, `rpb`, `additionalKeys` and
 * `returnLse` are accepted and ignored, so one options object can serve both split ops.
 */
export type NAAVOptions = NAOptions;

export const OPTION_NAMES = [
  'kernelSize', 'stride', 'dilation', 'isCausal', 'scale', 'rpb', 'additionalKeys', 'additionalValues', 'returnLse',
  'allowTf32',
] as const;
