/**
 * A float64 reference of neighborhood attention written straight from the spec
 * (../shared/spec/neighborhood-attention.md), test-only and deliberately simple: it enumerates every
 * (query, key) pair, asks the spec's per-axis rule whether the key is a neighbor, and does the softmax
 * and its gradient in the most direct way. It shares no code with src/.
 */

export interface RefProblem {
  naDim: number;
  batch: number;
  spatial: number[];
  heads: number;
  headsKv: number;
  headDim: number;
  headDimV: number;
  kernelSize: number[];
  stride: number[];
  dilation: number[];
  isCausal: boolean[];
  scale: number;
  nExtra: number;
  hasRpb: boolean;
}

export interface RefInputs {
  q: ArrayLike<number>;
  k: ArrayLike<number>;
  v: ArrayLike<number>;
  rpb?: ArrayLike<number>;
  addK?: ArrayLike<number>;
  addV?: ArrayLike<number>;
}

/** The spec's window of query coordinate i on one axis: {start, end} in group positions, and group g. */
export function specWindow(i: number, L: number, k: number, s: number, d: number, causal: boolean) {
  const g = i % d;
  const ih = Math.floor(i / d);
  const Lg = Math.ceil((L - g) / d);
  const left = Math.floor(k / 2);
  if (!causal) {
    const leader = Math.min(Math.floor(ih / s) * s + Math.floor(s / 2), Lg - 1);
    const start = Math.max(0, Math.min(leader - left, Lg - k));
    return {g, ih, start, end: start + k};
  }
  const leader = Math.min(Math.floor(ih / s) * s + s - 1, Lg - 1);
  const start = Math.max(leader - k + 1, 0);
  return {g, ih, start, end: Math.min(ih + 1, Lg)};
}

/** Slot of key j in the window of query i on one axis (per spec), or -1 when j is not a neighbor. */
export function specSlot(i: number, j: number, L: number, k: number, s: number, d: number, causal: boolean): number {
  const w = specWindow(i, L, k, s, d, causal);
  if (j % d !== w.g) {
    return -1;
  }
  const jh = Math.floor(j / d);
  return jh >= w.start && jh < w.end ? jh - w.start : -1;
}

function coords(index: number, sizes: number[]): number[] {
  const out = new Array(sizes.length);
  for (let a = sizes.length - 1; a >= 0; a--) {
    out[a] = index % sizes[a];
    index = Math.floor(index / sizes[a]);
  }
  return out;
}

interface Neighbor {
  /** Key token (spatial, without batch), or -1 - e for extra token e. */
  key: number;
  slot: number;
  rpbIndex: number;
}

/** Every neighbor of query token t, in slot order, then the extra tokens. */
export function neighborsOf(p: RefProblem, t: number): Neighbor[] {
  const N = p.spatial.reduce((a, b) => a * b, 1);
  const qc = coords(t, p.spatial);
  const out: Neighbor[] = [];
  for (let j = 0; j < N; j++) {
    const kc = coords(j, p.spatial);
    let slot = 0, rpbIndex = 0, ok = true;
    for (let a = 0; a < p.naDim; a++) {
      const s = specSlot(qc[a], kc[a], p.spatial[a], p.kernelSize[a], p.stride[a], p.dilation[a], p.isCausal[a]);
      if (s < 0) {
        ok = false;
        break;
      }
      slot = slot * p.kernelSize[a] + s;
      rpbIndex = rpbIndex * (2 * p.kernelSize[a] - 1) + (kc[a] - qc[a]) / p.dilation[a] + p.kernelSize[a] - 1;
    }
    if (ok) {
      out.push({key: j, slot, rpbIndex});
    }
  }
  out.sort((x, y) => x.slot - y.slot);
  const K = p.kernelSize.reduce((a, b) => a * b, 1);
  for (let e = 0; e < p.nExtra; e++) {
    out.push({key: -1 - e, slot: K + e, rpbIndex: -1});
  }
  return out;
}

export interface RefForward {
  out: Float64Array;
  lse: Float64Array;
  /** QK logits `[batch, tokens, heads, K + nExtra]`, -Infinity in masked slots. */
  logits: Float64Array;
}

export interface RefGrads {
  dq: Float64Array;
  dk: Float64Array;
  dv: Float64Array;
  drpb: Float64Array;
  daddK: Float64Array;
  daddV: Float64Array;
}

function sizes(p: RefProblem) {
  const N = p.spatial.reduce((a, b) => a * b, 1);
  const K = p.kernelSize.reduce((a, b) => a * b, 1);
  const rpbVol = p.kernelSize.reduce((a, k) => a * (2 * k - 1), 1);
  return {N, K, S: K + p.nExtra, rpbVol, group: p.heads / p.headsKv};
}

/** Offsets of query/key/value rows. */
function rows(p: RefProblem, b: number, t: number, h: number, nb: Neighbor) {
  const {N, group} = sizes(p);
  const hk = Math.floor(h / group);
  const isExtra = nb.key < 0;
  const kv = isExtra ? (b * p.nExtra + (-1 - nb.key)) * p.headsKv + hk : (b * N + nb.key) * p.headsKv + hk;
  return {q: ((b * N + t) * p.heads + h), kv, isExtra};
}

function logit(p: RefProblem, x: RefInputs, b: number, t: number, h: number, nb: Neighbor): number {
  const r = rows(p, b, t, h, nb);
  const keys = r.isExtra ? x.addK! : x.k;
  let dot = 0;
  for (let c = 0; c < p.headDim; c++) {
    dot += x.q[r.q * p.headDim + c] * keys[r.kv * p.headDim + c];
  }
  let s = p.scale * dot;
  if (p.hasRpb && !r.isExtra) {
    s += x.rpb![h * sizes(p).rpbVol + nb.rpbIndex];
  }
  return s;
}

/** Softmax of one row's logits: the probabilities and the logsumexp. */
function softmaxRow(s: number[]): {probs: number[], lse: number} {
  const max = Math.max(...s);
  const lse = Math.log(s.reduce((acc, v) => acc + Math.exp(v - max), 0)) + max;
  return {probs: s.map(v => Math.exp(v - lse)), lse};
}

/** Calls `body` for every row (batch b, query token t, head h) with the row's index and t's neighbors. */
function forEachRow(p: RefProblem, body: (b: number, t: number, h: number, row: number, nbs: Neighbor[]) => void):
    void {
  const {N} = sizes(p);
  for (let b = 0; b < p.batch; b++) {
    for (let t = 0; t < N; t++) {
      const nbs = neighborsOf(p, t);
      for (let h = 0; h < p.heads; h++) {
        body(b, t, h, (b * N + t) * p.heads + h, nbs);
      }
    }
  }
}

export function refForward(p: RefProblem, x: RefInputs): RefForward {
  const {N, S} = sizes(p);
  const out = new Float64Array(p.batch * N * p.heads * p.headDimV);
  const lse = new Float64Array(p.batch * N * p.heads);
  const logits = new Float64Array(p.batch * N * p.heads * S).fill(-Infinity);
  forEachRow(p, (b, t, h, row, nbs) => {
    const s = nbs.map(nb => logit(p, x, b, t, h, nb));
    nbs.forEach((nb, m) => logits[row * S + nb.slot] = s[m]);
    const {probs, lse: rowLse} = softmaxRow(s);
    lse[row] = rowLse;
    nbs.forEach((nb, m) => {
      const pr = probs[m];
      const r = rows(p, b, t, h, nb);
      const vals = r.isExtra ? x.addV! : x.v;
      for (let c = 0; c < p.headDimV; c++) {
        out[row * p.headDimV + c] += pr * vals[r.kv * p.headDimV + c];
      }
    });
  });
  return {out, lse, logits};
}

/** Gradients of `sum(out * dOut) + sum(lse * dLse)`. */
export function refBackward(p: RefProblem, x: RefInputs, dOut: ArrayLike<number>, dLse?: ArrayLike<number>):
    RefGrads {
  const {rpbVol} = sizes(p);
  const g: RefGrads = {
    dq: new Float64Array(x.q.length),
    dk: new Float64Array(x.k.length),
    dv: new Float64Array(x.v.length),
    drpb: new Float64Array(p.heads * rpbVol),
    daddK: new Float64Array(x.addK ? x.addK.length : 0),
    daddV: new Float64Array(x.addV ? x.addV.length : 0),
  };
  forEachRow(p, (b, t, h, row, nbs) => {
    const s = nbs.map(nb => logit(p, x, b, t, h, nb));
    const pr = softmaxRow(s).probs;
    // dP_m = dOut . v_m ; dS_m = p_m (dP_m - sum_n p_n dP_n) + p_m dLse
    const dP = nbs.map(nb => {
      const r = rows(p, b, t, h, nb);
      const vals = r.isExtra ? x.addV! : x.v;
      let acc = 0;
      for (let c = 0; c < p.headDimV; c++) {
        acc += dOut[row * p.headDimV + c] * vals[r.kv * p.headDimV + c];
      }
      return acc;
    });
    const mean = pr.reduce((acc, v, m) => acc + v * dP[m], 0);
    nbs.forEach((nb, m) => {
      const r = rows(p, b, t, h, nb);
      const dS = pr[m] * (dP[m] - mean) + (dLse ? pr[m] * dLse[row] : 0);
      const keys = r.isExtra ? x.addK! : x.k;
      const dK = r.isExtra ? g.daddK : g.dk;
      const dV = r.isExtra ? g.daddV : g.dv;
      for (let c = 0; c < p.headDim; c++) {
        g.dq[r.q * p.headDim + c] += p.scale * dS * keys[r.kv * p.headDim + c];
        dK[r.kv * p.headDim + c] += p.scale * dS * x.q[r.q * p.headDim + c];
      }
      for (let c = 0; c < p.headDimV; c++) {
        dV[r.kv * p.headDimV + c] += pr[m] * dOut[row * p.headDimV + c];
      }
      if (p.hasRpb && !r.isExtra) {
        g.drpb[h * rpbVol + nb.rpbIndex] += dS;
      }
    });
  });
  return g;
}

/** Split AV: `weights [batch, tokens, heads, K + nExtra]` times values; masked slots contribute nothing. */
export function refAV(p: RefProblem, weights: ArrayLike<number>, v: ArrayLike<number>, addV?: ArrayLike<number>):
    Float64Array {
  const {N, S} = sizes(p);
  const out = new Float64Array(p.batch * N * p.heads * p.headDimV);
  forEachRow(p, (b, t, h, row, nbs) => {
    for (const nb of nbs) {
      const r = rows(p, b, t, h, nb);
      const vals = r.isExtra ? addV! : v;
      for (let c = 0; c < p.headDimV; c++) {
        out[row * p.headDimV + c] += weights[row * S + nb.slot] * vals[r.kv * p.headDimV + c];
      }
    }
  });
  return out;
}
