/**
 * The public NA ops. `na1d/na2d/na3d`, `naXdQK` and `naXdAV` share one generic body each; the rank only
 * fixes the number of spatial axes. Each body validates everything, then runs the active backend's kernel
 * or, when the backend has none, the composed fallback.
 */
import {engine, op, Tensor} from '@tensorflow/tfjs-core';
import type {NADim} from '../core/na_info';
import {NattenAVForward, NattenNAForward, NattenQKForward} from '../kernels/kernel_names';
import {composedAV, composedForward, composedQK} from './composed';
import {hasKernel, runForwardKernel} from './dispatch';
import {prepareAV, prepareFused, prepareQK} from './na_call';
import type {NAAVOptions, NAOptions, NAQKOptions} from './options';

function fused(opName: string, naDim: NADim, query: Tensor, key: Tensor, value: Tensor, options: NAOptions):
    Tensor | [Tensor, Tensor] {
  const call = prepareFused(opName, naDim, query, key, value, options);
  // Without returnLse and with no tape recording (inference), the kernel may leave the logsumexp out; with a tape
  // recording, it may keep what the backward needs (ForwardAttrs.training).
  const training = engine().isTapeOn();
  const needLse = call.returnLse || training;
  const attrs = training ? {...call.attrs, training} : needLse ? call.attrs : {...call.attrs, needLse};
  const [out, lse] = hasKernel(NattenNAForward) ? runForwardKernel(NattenNAForward, call.inputs, attrs) as Tensor[] :
                                                  composedForward(call.info, call.inputs);
  return call.returnLse ? [out, lse] : out;
}

function qk(opName: string, naDim: NADim, query: Tensor, key: Tensor, options: NAQKOptions): Tensor {
  const call = prepareQK(opName, naDim, query, key, options);
  return hasKernel(NattenQKForward) ? runForwardKernel(NattenQKForward, call.inputs, call.attrs) as Tensor :
                                      composedQK(call.info, call.inputs);
}

function av(opName: string, naDim: NADim, weights: Tensor, value: Tensor, options: NAAVOptions): Tensor {
  const call = prepareAV(opName, naDim, weights, value, options);
  return hasKernel(NattenAVForward) ? runForwardKernel(NattenAVForward, call.inputs, call.attrs) as Tensor :
                                      composedAV(call.info, call.inputs);
}

/** A fused NA op: the output, or `[output, logsumexp]` when `options.returnLse` is true. */
export interface FusedNAOp {
  (query: Tensor, key: Tensor, value: Tensor, options: NAOptions&{returnLse: true}): [Tensor, Tensor];
  (query: Tensor, key: Tensor, value: Tensor, options: NAOptions): Tensor;
}

/**
 * 1-D neighborhood attention. `query [batch, L, heads, headDim]`, `key [batch, L, headsKv, headDim]`,
 * `value [batch, L, headsKv, headDimV]`; returns `[batch, L, heads, headDimV]`.
 *
 * ```js
 * const q = tf.randomNormal([1, 128, 4, 32]);
 * const out = na1d(q, q, q, {kernelSize: 7, dilation: 2, isCausal: true});
 * ```
 */
export const na1d = op({na1d_: (q: Tensor, k: Tensor, v: Tensor, o: NAOptions) => fused('na1d', 1, q, k, v, o)}) as
    FusedNAOp;

/**
 * 2-D neighborhood attention over `[batch, H, W, heads, headDim]` tokens.
 *
 * ```js
 * const q = tf.randomNormal([2, 14, 14, 4, 32]);
 * const [out, lse] = na2d(q, q, q, {kernelSize: [7, 5], stride: 2, returnLse: true});
 * ```
 */
export const na2d = op({na2d_: (q: Tensor, k: Tensor, v: Tensor, o: NAOptions) => fused('na2d', 2, q, k, v, o)}) as
    FusedNAOp;

/**
 * 3-D neighborhood attention over `[batch, D, H, W, heads, headDim]` tokens.
 *
 * ```js
 * const q = tf.randomNormal([1, 8, 16, 16, 2, 16]);
 * const out = na3d(q, q, q, {kernelSize: [3, 7, 7], isCausal: [true, false, false]});
 * ```
 */
export const na3d = op({na3d_: (q: Tensor, k: Tensor, v: Tensor, o: NAOptions) => fused('na3d', 3, q, k, v, o)}) as
    FusedNAOp;

/**
 * Split 1-D NA, first half: scaled `query . key` logits plus rpb over each query's window,
 * `[batch, L, heads, kernelVolume + nExtra]`, `-Infinity` in masked slots.
 */
export const na1dQK = op({na1dQK_: (q: Tensor, k: Tensor, o: NAQKOptions) => qk('na1dQK', 1, q, k, o)});
/** Split 2-D NA, first half (see na1dQK). Slots are row-major over the window, then the extra tokens. */
export const na2dQK = op({na2dQK_: (q: Tensor, k: Tensor, o: NAQKOptions) => qk('na2dQK', 2, q, k, o)});
/** Split 3-D NA, first half (see na1dQK). */
export const na3dQK = op({na3dQK_: (q: Tensor, k: Tensor, o: NAQKOptions) => qk('na3dQK', 3, q, k, o)});

/**
 * Split 1-D NA, second half: `weights [batch, L, heads, kernelVolume + nExtra]` times the window's values.
 *
 * ```js
 * const opts = {kernelSize: 5};
 * const out = na1dAV(tf.softmax(na1dQK(q, k, opts)), v, opts);   // equals na1d(q, k, v, opts)
 * ```
 */
export const na1dAV = op({na1dAV_: (w: Tensor, v: Tensor, o: NAAVOptions) => av('na1dAV', 1, w, v, o)});
/** Split 2-D NA, second half (see na1dAV). */
export const na2dAV = op({na2dAV_: (w: Tensor, v: Tensor, o: NAAVOptions) => av('na2dAV', 2, w, v, o)});
/** Split 3-D NA, second half (see na1dAV). */
export const na3dAV = op({na3dAV_: (w: Tensor, v: Tensor, o: NAAVOptions) => av('na3dAV', 3, w, v, o)});
