/**
 * Kernel names of tfjs-natten and their typed inputs and attributes.
 * Prefixed with `Natten` so they never collide with tfjs's own kernel names.
 * Optional inputs are simply absent from the input map.
 */
import type {NamedAttrMap, NamedTensorInfoMap, TensorInfo} from '@tensorflow/tfjs-core';

/**
 * Attributes shared by every NA kernel: per-axis arrays, the softmax scale, and whether TF32 tensor-core math
 * is allowed (only the CUDA kernels read it; absent means allowed).
 */
export interface NAAttrs {
  kernelSize: number[];
  stride: number[];
  dilation: number[];
  isCausal: boolean[];
  scale: number;
  allowTf32?: boolean;
}

/**
 * The forward kernels (the ones with registered gradients) take their inputs as an array, in the order
 * named by the attribute `inputNames`: optional inputs are left out of both. tfjs saves the inputs of a
 * kernel for its gradient either by name (then every named input must exist) or all at once (then the
 * inputs must be an array), so an array is how optional inputs reach the gradient.
 */
export interface ForwardAttrs extends NAAttrs {
  inputNames: string[];
  /**
   * NattenNAForward only. False when nothing will read the logsumexp (the op was not asked for it and no tape is
   * recording a gradient): a backend may then return `[output]` alone and skip writing it. Absent means true.
   */
  needLse?: boolean;
  /**
   * NattenNAForward only. True when a tape is recording (the op's gradient will likely run): a backend may then keep
   * what its backward would compute again (the cpu backend's native kernels keep the attention weights, see
   * src/kernels/cpu/na_native.ts). Absent means false.
   */
  training?: boolean;
}

/** Reads an array of forward-kernel inputs back into a record keyed by input name. */
export function namedInputs<T>(inputs: NamedTensorInfoMap | TensorInfo[], attrs: NamedAttrMap): T {
  const list = inputs as unknown as TensorInfo[];
  const names = (attrs as unknown as ForwardAttrs).inputNames;
  const out: Record<string, TensorInfo> = {};
  names.forEach((name, i) => out[name] = list[i]);
  return out as unknown as T;
}

/** Fused forward (array inputs, see ForwardAttrs). Outputs: [output, logsumexp]. */
export const NattenNAForward = 'NattenNAForward';
export interface NAForwardInputs {
  query: TensorInfo;
  key: TensorInfo;
  value: TensorInfo;
  rpb?: TensorInfo;
  additionalKeys?: TensorInfo;
  additionalValues?: TensorInfo;
}

/**
 * Fused backward. `dLse` (upstream gradient of the logsumexp) is optional.
 * Outputs: [dQuery, dKey, dValue, dRpb?, dAdditionalKeys?, dAdditionalValues?]
 * (the optional ones only when the matching input is present).
 */
export const NattenNABackward = 'NattenNABackward';
export interface NABackwardInputs extends NAForwardInputs {
  output: TensorInfo;
  lse: TensorInfo;
  dOutput: TensorInfo;
  dLse?: TensorInfo;
}

/** Split QK (array inputs, see ForwardAttrs): scaled logits plus bias, `-Infinity` in masked slots. Output: weights-shaped logits. */
export const NattenQKForward = 'NattenQKForward';
export interface QKForwardInputs {
  query: TensorInfo;
  key: TensorInfo;
  rpb?: TensorInfo;
  additionalKeys?: TensorInfo;
}

/** Split QK backward. Outputs: [dQuery, dKey, dRpb?, dAdditionalKeys?]. */
export const NattenQKBackward = 'NattenQKBackward';
export interface QKBackwardInputs extends QKForwardInputs {
  dLogits: TensorInfo;
}

/** Split AV (array inputs, see ForwardAttrs): weights times neighborhood values; masked slots contribute nothing. */
export const NattenAVForward = 'NattenAVForward';
export interface AVForwardInputs {
  weights: TensorInfo;
  value: TensorInfo;
  additionalValues?: TensorInfo;
}

/** Split AV backward. Outputs: [dWeights, dValue, dAdditionalValues?]. */
export const NattenAVBackward = 'NattenAVBackward';
export interface AVBackwardInputs extends AVForwardInputs {
  dOutput: TensorInfo;
}

export const ALL_KERNEL_NAMES = [
  NattenNAForward, NattenNABackward, NattenQKForward, NattenQKBackward, NattenAVForward, NattenAVBackward,
] as const;
