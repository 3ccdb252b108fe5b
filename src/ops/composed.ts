/**
 * Neighborhood attention composed of tfjs primitive ops: what runs on a backend without NA kernels
 * (webgl, wasm, ...). Gradients come from tfjs's autodiff of the primitives. It materializes the
 * gathered neighborhoods (`[batch, tokens, kernelVolume, heads, dim]`), so it is a fallback, not a fast path.
 */
import {add, concat, customGrad, expandDims, exp, gather, GradSaveFunc, logSumExp, matMul, mul, reshape, scalar,
        scatterND, slice, sub, sum, Tensor, tensor1d, tensor3d, transpose, where} from '@tensorflow/tfjs-core';
import {NAInfo} from '../core/na_info';
import {makeNeighborList} from '../core/neighbors';
import {inChunks} from './composed_chunks';

/** Index tensors of one call: neighbor key token and rpb entry per (token, slot), validity, GQA head map. */
interface ComposedIndex {
  keyIndex: Tensor;
  rpbIndex: Tensor;
  mask: Tensor;
  headIndex: Tensor | null;
}

function buildIndex(info: NAInfo): ComposedIndex {
  const {numTokens: N, kernelVolume: K} = info;
  const keys = new Int32Array(N * K), rpb = new Int32Array(N * K), valid = new Uint8Array(N * K);
  const nb = makeNeighborList(info);
  for (let t = 0; t < N; t++) {
    const n = nb.fill(t);
    for (let m = 0; m < n; m++) {
      const at = t * K + nb.slot[m];
      keys[at] = nb.keyToken[m];
      rpb[at] = nb.rpbOffset[m];
      valid[at] = 1;
    }
  }
  const headIndex = info.headsKv === info.heads ?
      null :
      tensor1d(Int32Array.from({length: info.heads}, (_, h) => Math.floor(h / info.headsPerKv)), 'int32');
  return {
    keyIndex: tensor1d(keys, 'int32'),
    rpbIndex: tensor1d(rpb, 'int32'),
    mask: tensor3d(valid, [N, 1, K], 'bool'),
    headIndex,
  };
}

/**
 * `gather(x, indices, axis)` whose gradient is one `scatterND` (linear in the size of dy). tfjs's own
 * gather gradient goes through unsortedSegmentSum, which on cpu loops over every segment (every token
 * here) and makes the fallback's backward quadratic in the number of tokens.
 */
function gatherAxis(x: Tensor, indices: Tensor, axis: number): Tensor {
  const perm = [axis, ...x.shape.map((_, a) => a).filter(a => a !== axis)];
  const inverse = perm.map((_, a) => perm.indexOf(a));
  const f = customGrad((...args: Array<Tensor | GradSaveFunc>) => {
    const input = args[0] as Tensor, save = args[1] as GradSaveFunc;
    save([indices]);
    return {
      value: gather(input, indices, axis),
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const dyFront = transpose(dy, perm);
        const target = [input.shape[axis], ...dyFront.shape.slice(1)];
        return transpose(scatterND(reshape(saved[0], [-1, 1]), dyFront, target), inverse);
      },
    };
  });
  return f(x) as Tensor;
}

/** `[batch, tokens, headsKv, dim]` to `[batch, tokens, heads, dim]` (GQA: repeat each kv head). */
function expandHeads(x: Tensor, idx: ComposedIndex): Tensor {
  return idx.headIndex == null ? x : gatherAxis(x, idx.headIndex, 2);
}

/** Neighborhood of every token: `[batch, tokens, heads, dim]` to `[batch, tokens, kernelVolume, heads, dim]`. */
function gatherNeighbors(x: Tensor, info: NAInfo, idx: ComposedIndex): Tensor {
  const [b, n, h, d] = x.shape;
  return reshape(gatherAxis(x, idx.keyIndex, 1), [b, n, info.kernelVolume, h, d]);
}

/** `[batch, tokens, heads, dim]` with heads and tokens swapped, for products with the extra tokens. */
function headsFirst(x: Tensor): Tensor {
  return transpose(x, [0, 2, 1, 3]);
}

function logits(info: NAInfo, idx: ComposedIndex, inputs: Record<string, Tensor>): Tensor {
  const {batch: B, numTokens: N, heads: H, headsKv: Hk, headDim: D, kernelVolume: K} = info;
  const q = reshape(inputs.query, [B, N, H, D]);
  const k = expandHeads(reshape(inputs.key, [B, N, Hk, D]), idx);
  const dots = sum(mul(reshape(q, [B, N, 1, H, D]), gatherNeighbors(k, info, idx)), 4);
  let s = mul(transpose(dots, [0, 1, 3, 2]), scalar(info.scale));
  if (inputs.rpb != null) {
    const bias = reshape(gatherAxis(reshape(inputs.rpb, [H, -1]), idx.rpbIndex, 1), [H, N, K]);
    s = add(s, transpose(bias, [1, 0, 2]));
  }
  s = where(idx.mask, s, scalar(-Infinity));
  if (inputs.additionalKeys != null) {
    const ek = expandHeads(inputs.additionalKeys, idx);
    const extra = headsFirst(matMul(headsFirst(q), headsFirst(ek), false, true));
    s = concat([s, mul(extra, scalar(info.scale))], 3);
  }
  return s;
}

function weightedValues(info: NAInfo, idx: ComposedIndex, weights: Tensor, inputs: Record<string, Tensor>): Tensor {
  const {batch: B, numTokens: N, heads: H, headsKv: Hk, headDimV: Dv, kernelVolume: K, nExtra: E} = info;
  const w = reshape(weights, [B, N, H, K + E]);
  const v = expandHeads(reshape(inputs.value, [B, N, Hk, Dv]), idx);
  let wK = E > 0 ? slice(w, [0, 0, 0, 0], [B, N, H, K]) : w;
  wK = where(idx.mask, wK, scalar(0));
  let out = sum(mul(expandDims(transpose(wK, [0, 1, 3, 2]), 4), gatherNeighbors(v, info, idx)), 2);
  if (E > 0) {
    const wE = slice(w, [0, 0, 0, K], [B, N, H, E]);
    const ev = expandHeads(inputs.additionalValues, idx);
    out = add(out, headsFirst(matMul(headsFirst(wE), headsFirst(ev))));
  }
  return out;
}

/** Fused forward: `[output, logsumexp]` in the user's shapes (in chunks where the backend's limits need them). */
export function composedForward(info: NAInfo, inputs: Record<string, Tensor>): [Tensor, Tensor] {
  return inChunks('na', info, inputs, (i, x) => forwardWhole(i, x)) as [Tensor, Tensor];
}

function forwardWhole(info: NAInfo, inputs: Record<string, Tensor>): [Tensor, Tensor] {
  const idx = buildIndex(info);
  const s = logits(info, idx, inputs);
  const lse = logSumExp(s, 3);
  const p = exp(sub(s, expandDims(lse, 3)));
  const out = weightedValues(info, idx, p, inputs);
  return [reshape(out, info.outShape), reshape(lse, info.lseShape)];
}

/** Split QK: scaled logits plus bias with `-Infinity` in masked slots. */
export function composedQK(info: NAInfo, inputs: Record<string, Tensor>): Tensor {
  return inChunks('naQK', info, inputs, (i, x) => [reshape(logits(i, buildIndex(i), x), i.weightsShape)])[0];
}

/** Split AV: weights times neighborhood values; masked slots contribute nothing. */
export function composedAV(info: NAInfo, inputs: Record<string, Tensor>): Tensor {
  return inChunks('naAV', info, inputs,
                  (i, x) => [reshape(weightedValues(i, buildIndex(i), x.weights, x), i.outShape)])[0];
}
