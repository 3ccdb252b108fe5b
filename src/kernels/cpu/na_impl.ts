/**
 * Neighborhood attention over plain Float32Arrays: the CPU kernels' computation.
 *
 * Layout (heads last): query `[batch, tokens, heads, dim]`, key/value `[batch, tokens, headsKv, dim(V)]`,
 * extra tokens `[batch, nExtra, headsKv, dim(V)]`, rpb `[heads, 2k0-1, 2k1-1, 2k2-1]`, split-op weights
 * `[batch, tokens, heads, kernelVolume + nExtra]`. The JavaScript paths accumulate sums in float64.
 *
 * Work is done per row, one (batch, query token, head): `forEachRow` walks the rows and points a RowArgs
 * record at each. The fused forward keeps at most one score per neighbor of a single row and writes only
 * the output and the logsumexp: nothing of size tokens * kernelVolume.
 *
 * The fused forward and backward have four implementations of the same row computation, picked by
 * `path` (flags.ts): the native kernels in Node (na_native.ts: the natten_cpu addon, threaded, float32
 * sums, the default where the addon loads), WebAssembly SIMD modules generated per head dim (na_wasm.ts,
 * float32 sums), JavaScript row kernels generated per head dim (na_codegen.ts), and the generic loops here.
 * Each path falls back to the next where it is unavailable. The split-op kernels run natively on the
 * native path, else the generic loops.
 */
import {NAInfo} from '../../core/na_info';
import {makeNeighborList, NeighborList} from '../../core/neighbors';
import type {CpuKernelPath} from '../../flags';
import {BackwardRowArgs, getRowKernels, RowArgs} from './na_codegen';
import {avBackwardNative, avForwardNative, naBackwardNative, naForwardNative, qkBackwardNative, qkForwardNative}
  from './na_native';
import {naBackwardWasm, naForwardWasm} from './na_wasm';

type F32 = Float32Array;

export interface NAForwardResult {
  output: F32;
  lse: F32;
}

export interface NABackwardResult {
  dQuery: F32;
  dKey: F32;
  dValue: F32;
  dRpb: F32 | null;
  dAdditionalKeys: F32 | null;
  dAdditionalValues: F32 | null;
}

export interface QKBackwardResult {
  dQuery: F32;
  dKey: F32;
  dRpb: F32 | null;
  dAdditionalKeys: F32 | null;
}

export interface AVBackwardResult {
  dWeights: F32;
  dValue: F32;
  dAdditionalValues: F32 | null;
}

function dot(a: F32, aOff: number, b: F32, bOff: number, n: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  let c = 0;
  for (; c + 3 < n; c += 4) {
    s0 += a[aOff + c] * b[bOff + c];
    s1 += a[aOff + c + 1] * b[bOff + c + 1];
    s2 += a[aOff + c + 2] * b[bOff + c + 2];
    s3 += a[aOff + c + 3] * b[bOff + c + 3];
  }
  for (; c < n; c++) {
    s0 += a[aOff + c] * b[bOff + c];
  }
  return (s0 + s1) + (s2 + s3);
}

function axpy(alpha: number, x: ArrayLike<number>, xOff: number, y: Float64Array, yOff: number, n: number): void {
  for (let c = 0; c < n; c++) {
    y[yOff + c] += alpha * x[xOff + c];
  }
}

function toF32(a: Float64Array | null): F32 | null {
  return a == null ? null : Float32Array.from(a);
}

const EMPTY = new Float32Array(0);

function rowArgs(info: NAInfo, nb: NeighborList, inputs: Partial<RowArgs>): RowArgs {
  return {
    query: EMPTY, key: EMPTY, value: EMPTY, rpb: null, extraKeys: null, extraValues: null,
    keyToken: nb.keyToken, rpbOffset: nb.rpbOffset, n: 0, nExtra: info.nExtra, qOff: 0, kBase: 0, vBase: 0,
    kStride: info.headsKv * info.headDim, vStride: info.headsKv * info.headDimV, ekBase: 0, evBase: 0, rpbBase: 0,
    scale: info.scale, oOff: 0, ...inputs,
  };
}

/**
 * Calls `body(row, h)` for every row (batch, token, head) with `a` pointing at it and `nb` holding the
 * token's valid neighbors. Row r's query is at `r * headDim`, its output at `r * headDimV`, its split-op
 * slots at `r * numSlots`; neighbor m's key is at `a.kBase + nb.keyToken[m] * a.kStride`, extra token e's
 * at `a.ekBase + e * a.kStride` (values alike with vBase/evBase/vStride).
 */
function forEachRow(info: NAInfo, nb: NeighborList, a: RowArgs, body: (row: number, h: number) => void): void {
  const {batch, numTokens: N, heads: H, headDim: D, headDimV: Dv, nExtra: E, headsPerKv} = info;
  const rpbVol = info.rpbVolume;
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < N; t++) {
      a.n = nb.fill(t);
      for (let h = 0; h < H; h++) {
        const hk = (h / headsPerKv) | 0;
        const row = (b * N + t) * H + h;
        a.qOff = row * D;
        a.oOff = row * Dv;
        a.kBase = b * N * a.kStride + hk * D;
        a.vBase = b * N * a.vStride + hk * Dv;
        a.ekBase = b * E * a.kStride + hk * D;
        a.evBase = b * E * a.vStride + hk * Dv;
        a.rpbBase = h * rpbVol;
        body(row, h);
      }
    }
  }
}

/** Offset of key m (neighbor, or extra token m - n) of the current row. */
function keyOffset(a: RowArgs, m: number): number {
  return m < a.n ? a.kBase + a.keyToken[m] * a.kStride : a.ekBase + (m - a.n) * a.kStride;
}

function valueOffset(a: RowArgs, m: number): number {
  return m < a.n ? a.vBase + a.keyToken[m] * a.vStride : a.evBase + (m - a.n) * a.vStride;
}

/** Scaled logit of key m of the current row, with its bias. */
function logit(a: RowArgs, m: number, D: number): number {
  const extra = m >= a.n;
  let s = a.scale * dot(a.query, a.qOff, extra ? a.extraKeys! : a.key, keyOffset(a, m), D);
  if (!extra && a.rpb != null) {
    s += a.rpb[a.rpbBase + a.rpbOffset[m]];
  }
  return s;
}

export function naForwardImpl(info: NAInfo, query: F32, key: F32, value: F32, rpb: F32 | null,
                              additionalKeys: F32 | null, additionalValues: F32 | null,
                              path: CpuKernelPath = 'wasm', keepWeights = false): NAForwardResult {
  if (path === 'native') {
    const result = naForwardNative(info, query, key, value, rpb, additionalKeys, additionalValues, keepWeights);
    if (result != null) {
      return result;
    }
    path = 'wasm';
  }
  if (path === 'wasm') {
    const result = naForwardWasm(info, query, key, value, rpb, additionalKeys, additionalValues);
    if (result != null) {
      return result;
    }
  }
  const {batch, numTokens: N, heads: H, headDim: D, headDimV: Dv, nExtra: E} = info;
  const output = new Float32Array(batch * N * H * Dv);
  const lse = new Float32Array(batch * N * H);
  const nb = makeNeighborList(info);
  const a = rowArgs(info, nb, {query, key, value, rpb, extraKeys: additionalKeys, extraValues: additionalValues});
  const scores = new Float64Array(info.kernelVolume + E);
  const kernels = path !== 'generic' ? getRowKernels(D, Dv) : null;
  if (kernels != null) {
    forEachRow(info, nb, a, row => lse[row] = kernels.forward(a, scores, output));
    return {output, lse};
  }
  const acc = new Float64Array(Dv);
  forEachRow(info, nb, a, row => {
    const count = a.n + E;
    let max = -Infinity;
    for (let m = 0; m < count; m++) {
      scores[m] = logit(a, m, D);
      max = scores[m] > max ? scores[m] : max;
    }
    acc.fill(0);
    let sum = 0;
    for (let m = 0; m < count; m++) {
      const p = Math.exp(scores[m] - max);
      sum += p;
      axpy(p, m < a.n ? value : additionalValues!, valueOffset(a, m), acc, 0, Dv);
    }
    for (let c = 0; c < Dv; c++) {
      output[a.oOff + c] = acc[c] / sum;
    }
    lse[row] = Math.log(sum) + max;
  });
  return {output, lse};
}

export function naBackwardImpl(info: NAInfo, query: F32, key: F32, value: F32, output: F32, lse: F32,
                               dOutput: F32, dLse: F32 | null, rpb: F32 | null, additionalKeys: F32 | null,
                               additionalValues: F32 | null, path: CpuKernelPath = 'wasm'): NABackwardResult {
  if (path === 'native') {
    const result = naBackwardNative(info, query, key, value, output, lse, dOutput, dLse, rpb, additionalKeys,
                                    additionalValues);
    if (result != null) {
      return result;
    }
    path = 'wasm';
  }
  if (path === 'wasm') {
    const result = naBackwardWasm(info, query, key, value, output, lse, dOutput, dLse, rpb, additionalKeys,
                                  additionalValues);
    if (result != null) {
      return result;
    }
  }
  const {headDim: D, headDimV: Dv, nExtra: E} = info;
  const nb = makeNeighborList(info);
  const a: BackwardRowArgs = {
    ...rowArgs(info, nb, {query, key, value, rpb, extraKeys: additionalKeys, extraValues: additionalValues}),
    output, dOutput, lse: 0, delta: 0,
    dQuery: new Float32Array(query.length),
    dKey: new Float64Array(key.length),
    dValue: new Float64Array(value.length),
    dRpb: rpb != null ? new Float64Array(rpb.length) : null,
    dExtraKeys: E > 0 ? new Float64Array(additionalKeys!.length) : null,
    dExtraValues: E > 0 ? new Float64Array(additionalValues!.length) : null,
  };
  const kernels = path !== 'generic' ? getRowKernels(D, Dv) : null;
  const dq = new Float64Array(D);
  forEachRow(info, nb, a, row => {
    a.lse = lse[row];
    // The softmax-backward row term dot(dO, O), with the logsumexp's own gradient folded in.
    a.delta = dot(dOutput, a.oOff, output, a.oOff, Dv) - (dLse != null ? dLse[row] : 0);
    if (kernels != null) {
      kernels.backward(a);
      return;
    }
    dq.fill(0);
    for (let m = 0; m < a.n + E; m++) {
      const extra = m >= a.n;
      const kOff = keyOffset(a, m), vOff = valueOffset(a, m);
      const p = Math.exp(logit(a, m, D) - a.lse);
      const dS = p * (dot(dOutput, a.oOff, extra ? additionalValues! : value, vOff, Dv) - a.delta);
      if (!extra && a.dRpb != null) {
        a.dRpb[a.rpbBase + a.rpbOffset[m]] += dS;
      }
      axpy(a.scale * dS, extra ? additionalKeys! : key, kOff, dq, 0, D);
      axpy(a.scale * dS, query, a.qOff, extra ? a.dExtraKeys! : a.dKey, kOff, D);
      axpy(p, dOutput, a.oOff, extra ? a.dExtraValues! : a.dValue, vOff, Dv);
    }
    a.dQuery.set(dq, a.qOff);
  });
  return {
    dQuery: a.dQuery,
    dKey: Float32Array.from(a.dKey),
    dValue: Float32Array.from(a.dValue),
    dRpb: toF32(a.dRpb),
    dAdditionalKeys: toF32(a.dExtraKeys),
    dAdditionalValues: toF32(a.dExtraValues),
  };
}

/** Split-op slot of key m of the current row: its window slot, or kernelVolume + e for extra token e. */
function slotOf(a: RowArgs, nb: NeighborList, m: number, K: number): number {
  return m < a.n ? nb.slot[m] : K + m - a.n;
}

export function qkForwardImpl(info: NAInfo, query: F32, key: F32, rpb: F32 | null, additionalKeys: F32 | null,
                              path: CpuKernelPath = 'generic'): F32 {
  const native = path === 'native' ? qkForwardNative(info, query, key, rpb, additionalKeys) : null;
  if (native != null) {
    return native;
  }
  const {batch, numTokens: N, heads: H, headDim: D, nExtra: E, numSlots: S, kernelVolume: K} = info;
  const logits = new Float32Array(batch * N * H * S).fill(-Infinity);
  const nb = makeNeighborList(info);
  const a = rowArgs(info, nb, {query, key, rpb, extraKeys: additionalKeys});
  forEachRow(info, nb, a, row => {
    for (let m = 0; m < a.n + E; m++) {
      logits[row * S + slotOf(a, nb, m, K)] = logit(a, m, D);
    }
  });
  return logits;
}

export function qkBackwardImpl(info: NAInfo, dLogits: F32, query: F32, key: F32, hasRpb: boolean,
                               additionalKeys: F32 | null, path: CpuKernelPath = 'generic'): QKBackwardResult {
  const native = path === 'native' ? qkBackwardNative(info, dLogits, query, key, additionalKeys) : null;
  if (native != null) {
    return native;
  }
  const {heads: H, headDim: D, nExtra: E, numSlots: S, kernelVolume: K} = info;
  const nb = makeNeighborList(info);
  const a = rowArgs(info, nb, {query, key, extraKeys: additionalKeys});
  const dQuery = new Float32Array(query.length);
  const dKey = new Float64Array(key.length);
  const dRpb = hasRpb ? new Float64Array(H * info.rpbVolume) : null;
  const dExtraK = E > 0 ? new Float64Array(additionalKeys!.length) : null;
  const dq = new Float64Array(D);
  forEachRow(info, nb, a, row => {
    dq.fill(0);
    for (let m = 0; m < a.n + E; m++) {
      const extra = m >= a.n;
      const dS = dLogits[row * S + slotOf(a, nb, m, K)];
      const kOff = keyOffset(a, m);
      if (!extra && dRpb != null) {
        dRpb[a.rpbBase + a.rpbOffset[m]] += dS;
      }
      axpy(a.scale * dS, extra ? additionalKeys! : key, kOff, dq, 0, D);
      axpy(a.scale * dS, query, a.qOff, extra ? dExtraK! : dKey, kOff, D);
    }
    dQuery.set(dq, a.qOff);
  });
  return {dQuery, dKey: Float32Array.from(dKey), dRpb: toF32(dRpb), dAdditionalKeys: toF32(dExtraK)};
}

export function avForwardImpl(info: NAInfo, weights: F32, value: F32, additionalValues: F32 | null,
                              path: CpuKernelPath = 'generic'): F32 {
  const native = path === 'native' ? avForwardNative(info, weights, value, additionalValues) : null;
  if (native != null) {
    return native;
  }
  const {batch, numTokens: N, heads: H, headDimV: Dv, nExtra: E, numSlots: S, kernelVolume: K} = info;
  const output = new Float32Array(batch * N * H * Dv);
  const nb = makeNeighborList(info);
  const a = rowArgs(info, nb, {value, extraValues: additionalValues});
  const acc = new Float64Array(Dv);
  forEachRow(info, nb, a, row => {
    acc.fill(0);
    for (let m = 0; m < a.n + E; m++) {
      axpy(weights[row * S + slotOf(a, nb, m, K)], m < a.n ? value : additionalValues!, valueOffset(a, m), acc, 0, Dv);
    }
    output.set(acc, a.oOff);
  });
  return output;
}

export function avBackwardImpl(info: NAInfo, dOutput: F32, weights: F32, value: F32,
                               additionalValues: F32 | null, path: CpuKernelPath = 'generic'): AVBackwardResult {
  const native = path === 'native' ? avBackwardNative(info, dOutput, weights, value, additionalValues) : null;
  if (native != null) {
    return native;
  }
  const {headDimV: Dv, nExtra: E, numSlots: S, kernelVolume: K} = info;
  const nb = makeNeighborList(info);
  const a = rowArgs(info, nb, {value, extraValues: additionalValues});
  const dWeights = new Float32Array(weights.length);
  const dValue = new Float64Array(value.length);
  const dExtraV = E > 0 ? new Float64Array(additionalValues!.length) : null;
  forEachRow(info, nb, a, row => {
    for (let m = 0; m < a.n + E; m++) {
      const extra = m >= a.n;
      const w = row * S + slotOf(a, nb, m, K);
      const vOff = valueOffset(a, m);
      dWeights[w] = dot(dOutput, a.oOff, extra ? additionalValues! : value, vOff, Dv);
      axpy(weights[w], dOutput, a.oOff, extra ? dExtraV! : dValue, vOff, Dv);
    }
  });
  return {dWeights, dValue: Float32Array.from(dValue), dAdditionalValues: toF32(dExtraV)};
}
