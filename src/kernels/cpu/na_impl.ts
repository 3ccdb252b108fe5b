/**
 * Neighborhood attention over plain Float32Arrays: the CPU kernels' computation.
 *
 * Layout (heads last): query `[batch, tokens, heads, dim]`, key/value `[batch, tokens, headsKv, dim(V)]`,
 * extra tokens `[batch, nExtra, headsKv, dim(V)]`, rpb `[heads, 2k0-1, 2k1-1, 2k2-1]`, split-op weights
 * `[batch, tokens, heads, kernelVolume + nExtra]`. Sums are accumulated in float64.
 *
 * The fused forward keeps one score per neighbor of a single query (a scratch of kernelVolume + nExtra
 * numbers) and writes only the output and the logsumexp: nothing of size tokens * kernelVolume.
 */
import {NAInfo} from '../../core/na_info';
import {makeNeighborList} from '../../core/neighbors';

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

function rpbVolume(info: NAInfo): number {
  return info.rpb3[0] * info.rpb3[1] * info.rpb3[2];
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

function toF32(a: Float64Array | null): F32 | null {
  return a == null ? null : Float32Array.from(a);
}

export function naForwardImpl(info: NAInfo, query: F32, key: F32, value: F32, rpb: F32 | null,
                              additionalKeys: F32 | null, additionalValues: F32 | null): NAForwardResult {
  const {batch, numTokens: N, heads: H, headsKv: Hk, headDim: D, headDimV: Dv, nExtra: E} = info;
  const {headsPerKv, scale} = info;
  const rpbVol = rpbVolume(info);
  const output = new Float32Array(batch * N * H * Dv);
  const lse = new Float32Array(batch * N * H);
  const nb = makeNeighborList(info);
  const {keyToken, rpbOffset} = nb;
  const scores = new Float64Array(info.kernelVolume + E);
  const acc = new Float64Array(Dv);
  const kStride = Hk * D, vStride = Hk * Dv;
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < N; t++) {
      const n = nb.fill(t);
      for (let h = 0; h < H; h++) {
        const hk = (h / headsPerKv) | 0;
        const row = (b * N + t) * H + h;
        const qOff = row * D;
        const kBase = b * N * kStride + hk * D;
        const vBase = b * N * vStride + hk * Dv;
        const rpbBase = h * rpbVol;
        let max = -Infinity;
        for (let m = 0; m < n; m++) {
          let s = scale * dot(query, qOff, key, kBase + keyToken[m] * kStride, D);
          if (rpb != null) {
            s += rpb[rpbBase + rpbOffset[m]];
          }
          scores[m] = s;
          if (s > max) {
            max = s;
          }
        }
        for (let e = 0; e < E; e++) {
          const s = scale * dot(query, qOff, additionalKeys!, ((b * E + e) * Hk + hk) * D, D);
          scores[n + e] = s;
          if (s > max) {
            max = s;
          }
        }
        acc.fill(0);
        let sum = 0;
        for (let m = 0; m < n + E; m++) {
          const p = Math.exp(scores[m] - max);
          sum += p;
          let src = value, vOff = vBase + keyToken[m] * vStride;
          if (m >= n) {
            src = additionalValues!;
            vOff = ((b * E + m - n) * Hk + hk) * Dv;
          }
          for (let c = 0; c < Dv; c++) {
            acc[c] += p * src[vOff + c];
          }
        }
        const inv = 1 / sum;
        const oOff = row * Dv;
        for (let c = 0; c < Dv; c++) {
          output[oOff + c] = acc[c] * inv;
        }
        lse[row] = Math.log(sum) + max;
      }
    }
  }
  return {output, lse};
}

export function naBackwardImpl(info: NAInfo, query: F32, key: F32, value: F32, output: F32, lse: F32,
                               dOutput: F32, dLse: F32 | null, rpb: F32 | null, additionalKeys: F32 | null,
                               additionalValues: F32 | null): NABackwardResult {
  const {batch, numTokens: N, heads: H, headsKv: Hk, headDim: D, headDimV: Dv, nExtra: E} = info;
  const {headsPerKv, scale} = info;
  const rpbVol = rpbVolume(info);
  const dQuery = new Float32Array(query.length);
  const dKey = new Float64Array(key.length);
  const dValue = new Float64Array(value.length);
  const dRpb = rpb != null ? new Float64Array(rpb.length) : null;
  const dExtraK = E > 0 ? new Float64Array(additionalKeys!.length) : null;
  const dExtraV = E > 0 ? new Float64Array(additionalValues!.length) : null;
  const nb = makeNeighborList(info);
  const {keyToken, rpbOffset} = nb;
  const dq = new Float64Array(D);
  const kStride = Hk * D, vStride = Hk * Dv;
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < N; t++) {
      const n = nb.fill(t);
      for (let h = 0; h < H; h++) {
        const hk = (h / headsPerKv) | 0;
        const row = (b * N + t) * H + h;
        const qOff = row * D;
        const oOff = row * Dv;
        const kBase = b * N * kStride + hk * D;
        const vBase = b * N * vStride + hk * Dv;
        const rpbBase = h * rpbVol;
        const rowLse = lse[row];
        // D_i = sum_c dO*O - dLse: the softmax-backward row term, with the logsumexp's own gradient folded in.
        let delta = dot(dOutput, oOff, output, oOff, Dv);
        if (dLse != null) {
          delta -= dLse[row];
        }
        dq.fill(0);
        for (let m = 0; m < n + E; m++) {
          const extra = m >= n;
          let kSrc = key, kOff = kBase + keyToken[m] * kStride, dK = dKey;
          let vSrc = value, vOff = vBase + keyToken[m] * vStride, dV = dValue;
          if (extra) {
            kSrc = additionalKeys!;
            vSrc = additionalValues!;
            kOff = ((b * E + m - n) * Hk + hk) * D;
            vOff = ((b * E + m - n) * Hk + hk) * Dv;
            dK = dExtraK!;
            dV = dExtraV!;
          }
          let s = scale * dot(query, qOff, kSrc, kOff, D);
          if (!extra && rpb != null) {
            s += rpb[rpbBase + rpbOffset[m]];
          }
          const p = Math.exp(s - rowLse);
          const dS = p * (dot(dOutput, oOff, vSrc, vOff, Dv) - delta);
          if (!extra && dRpb != null) {
            dRpb[rpbBase + rpbOffset[m]] += dS;
          }
          const g = scale * dS;
          for (let c = 0; c < D; c++) {
            dq[c] += g * kSrc[kOff + c];
            dK[kOff + c] += g * query[qOff + c];
          }
          for (let c = 0; c < Dv; c++) {
            dV[vOff + c] += p * dOutput[oOff + c];
          }
        }
        for (let c = 0; c < D; c++) {
          dQuery[qOff + c] = dq[c];
        }
      }
    }
  }
  return {
    dQuery,
    dKey: Float32Array.from(dKey),
    dValue: Float32Array.from(dValue),
    dRpb: toF32(dRpb),
    dAdditionalKeys: toF32(dExtraK),
    dAdditionalValues: toF32(dExtraV),
  };
}

export function qkForwardImpl(info: NAInfo, query: F32, key: F32, rpb: F32 | null, additionalKeys: F32 | null):
    F32 {
  const {batch, numTokens: N, heads: H, headsKv: Hk, headDim: D, nExtra: E, numSlots: S} = info;
  const {headsPerKv, scale, kernelVolume: K} = info;
  const rpbVol = rpbVolume(info);
  const logits = new Float32Array(batch * N * H * S).fill(-Infinity);
  const nb = makeNeighborList(info);
  const {keyToken, rpbOffset, slot} = nb;
  const kStride = Hk * D;
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < N; t++) {
      const n = nb.fill(t);
      for (let h = 0; h < H; h++) {
        const hk = (h / headsPerKv) | 0;
        const row = (b * N + t) * H + h;
        const qOff = row * D;
        const kBase = b * N * kStride + hk * D;
        const lOff = row * S;
        for (let m = 0; m < n; m++) {
          let s = scale * dot(query, qOff, key, kBase + keyToken[m] * kStride, D);
          if (rpb != null) {
            s += rpb[h * rpbVol + rpbOffset[m]];
          }
          logits[lOff + slot[m]] = s;
        }
        for (let e = 0; e < E; e++) {
          logits[lOff + K + e] = scale * dot(query, qOff, additionalKeys!, ((b * E + e) * Hk + hk) * D, D);
        }
      }
    }
  }
  return logits;
}

export function qkBackwardImpl(info: NAInfo, dLogits: F32, query: F32, key: F32, hasRpb: boolean,
                               additionalKeys: F32 | null): QKBackwardResult {
  const {batch, numTokens: N, heads: H, headsKv: Hk, headDim: D, nExtra: E, numSlots: S} = info;
  const {headsPerKv, scale, kernelVolume: K} = info;
  const rpbVol = rpbVolume(info);
  const dQuery = new Float32Array(query.length);
  const dKey = new Float64Array(key.length);
  const dRpb = hasRpb ? new Float64Array(H * rpbVol) : null;
  const dExtraK = E > 0 ? new Float64Array(additionalKeys!.length) : null;
  const nb = makeNeighborList(info);
  const {keyToken, rpbOffset, slot} = nb;
  const dq = new Float64Array(D);
  const kStride = Hk * D;
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < N; t++) {
      const n = nb.fill(t);
      for (let h = 0; h < H; h++) {
        const hk = (h / headsPerKv) | 0;
        const row = (b * N + t) * H + h;
        const qOff = row * D;
        const kBase = b * N * kStride + hk * D;
        const lOff = row * S;
        dq.fill(0);
        for (let m = 0; m < n + E; m++) {
          const extra = m >= n;
          const dS = dLogits[lOff + (extra ? K + m - n : slot[m])];
          const kSrc = extra ? additionalKeys! : key;
          const dK = extra ? dExtraK! : dKey;
          const kOff = extra ? ((b * E + m - n) * Hk + hk) * D : kBase + keyToken[m] * kStride;
          if (!extra && dRpb != null) {
            dRpb[h * rpbVol + rpbOffset[m]] += dS;
          }
          const g = scale * dS;
          for (let c = 0; c < D; c++) {
            dq[c] += g * kSrc[kOff + c];
            dK[kOff + c] += g * query[qOff + c];
          }
        }
        for (let c = 0; c < D; c++) {
          dQuery[qOff + c] = dq[c];
        }
      }
    }
  }
  return {dQuery, dKey: Float32Array.from(dKey), dRpb: toF32(dRpb), dAdditionalKeys: toF32(dExtraK)};
}

export function avForwardImpl(info: NAInfo, weights: F32, value: F32, additionalValues: F32 | null): F32 {
  const {batch, numTokens: N, heads: H, headsKv: Hk, headDimV: Dv, nExtra: E, numSlots: S} = info;
  const {headsPerKv, kernelVolume: K} = info;
  const output = new Float32Array(batch * N * H * Dv);
  const nb = makeNeighborList(info);
  const {keyToken, slot} = nb;
  const acc = new Float64Array(Dv);
  const vStride = Hk * Dv;
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < N; t++) {
      const n = nb.fill(t);
      for (let h = 0; h < H; h++) {
        const hk = (h / headsPerKv) | 0;
        const row = (b * N + t) * H + h;
        const wOff = row * S;
        const vBase = b * N * vStride + hk * Dv;
        acc.fill(0);
        for (let m = 0; m < n + E; m++) {
          const extra = m >= n;
          const w = weights[wOff + (extra ? K + m - n : slot[m])];
          const src = extra ? additionalValues! : value;
          const vOff = extra ? ((b * E + m - n) * Hk + hk) * Dv : vBase + keyToken[m] * vStride;
          for (let c = 0; c < Dv; c++) {
            acc[c] += w * src[vOff + c];
          }
        }
        const oOff = row * Dv;
        for (let c = 0; c < Dv; c++) {
          output[oOff + c] = acc[c];
        }
      }
    }
  }
  return output;
}

export function avBackwardImpl(info: NAInfo, dOutput: F32, weights: F32, value: F32,
                               additionalValues: F32 | null): AVBackwardResult {
  const {batch, numTokens: N, heads: H, headsKv: Hk, headDimV: Dv, nExtra: E, numSlots: S} = info;
  const {headsPerKv, kernelVolume: K} = info;
  const dWeights = new Float32Array(weights.length);
  const dValue = new Float64Array(value.length);
  const dExtraV = E > 0 ? new Float64Array(additionalValues!.length) : null;
  const nb = makeNeighborList(info);
  const {keyToken, slot} = nb;
  const vStride = Hk * Dv;
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < N; t++) {
      const n = nb.fill(t);
      for (let h = 0; h < H; h++) {
        const hk = (h / headsPerKv) | 0;
        const row = (b * N + t) * H + h;
        const wOff = row * S;
        const oOff = row * Dv;
        const vBase = b * N * vStride + hk * Dv;
        for (let m = 0; m < n + E; m++) {
          const extra = m >= n;
          const w = wOff + (extra ? K + m - n : slot[m]);
          const src = extra ? additionalValues! : value;
          const dV = extra ? dExtraV! : dValue;
          const vOff = extra ? ((b * E + m - n) * Hk + hk) * Dv : vBase + keyToken[m] * vStride;
          dWeights[w] = dot(dOutput, oOff, src, vOff, Dv);
          const p = weights[w];
          for (let c = 0; c < Dv; c++) {
            dV[vOff + c] += p * dOutput[oOff + c];
          }
        }
      }
    }
  }
  return {dWeights, dValue: Float32Array.from(dValue), dAdditionalValues: toF32(dExtraV)};
}
