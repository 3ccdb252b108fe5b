/**
 * Row kernels of the fused forward and backward, generated for one (headDim, headDimV).
 *
 * A row is one (query token, head): its scores over the neighborhood, the softmax and the weighted sum of
 * values (forward), or the gradients it contributes (backward). With the head dims known, the generated
 * code keeps the query, the output accumulator and the upstream gradient in local variables and unrolls
 * every dot product, which about doubles the throughput of the generic loops in na_impl.ts on V8.
 * Where code generation is refused (a Content-Security-Policy without 'unsafe-eval') or the head dims are
 * large, `getRowKernels` returns null and na_impl.ts uses its generic loops.
 */

/** Arguments of one row, shared by forward and backward. Offsets index the flat Float32Arrays. */
export interface RowArgs {
  query: Float32Array;
  key: Float32Array;
  value: Float32Array;
  rpb: Float32Array | null;
  extraKeys: Float32Array | null;
  extraValues: Float32Array | null;
  keyToken: Int32Array;
  rpbOffset: Int32Array;
  /** Valid neighbors and extra tokens of the row. */
  n: number;
  nExtra: number;
  qOff: number;
  /** Offset of key/value token 0 of this batch and kv head, and the stride between tokens. */
  kBase: number;
  vBase: number;
  kStride: number;
  vStride: number;
  /** Offset of extra token 0 of this batch and kv head (the stride is kStride/vStride). */
  ekBase: number;
  evBase: number;
  rpbBase: number;
  scale: number;
  /** Offset of the row in the output (and dOutput). */
  oOff: number;
}

export interface BackwardRowArgs extends RowArgs {
  output: Float32Array;
  dOutput: Float32Array;
  /** Logsumexp of the row and the row's softmax-backward term `dot(dO, O) - dLse`. */
  lse: number;
  delta: number;
  dQuery: Float32Array;
  dKey: Float64Array;
  dValue: Float64Array;
  dRpb: Float64Array | null;
  dExtraKeys: Float64Array | null;
  dExtraValues: Float64Array | null;
}

export interface RowKernels {
  /** Writes the row's output; returns its logsumexp. `scores` is scratch of at least n + nExtra. */
  forward(a: RowArgs, scores: Float64Array, output: Float32Array): number;
  /** Adds the row's contributions to dKey/dValue/dRpb/extras and writes its dQuery. */
  backward(a: BackwardRowArgs): void;
}

/** Largest head dim that gets generated code. */
export const MAX_CODEGEN_DIM = 128;

const range = (n: number) => Array.from({length: n}, (_, i) => i);

/** `a[o] * b0 + a[o+1] * b1 + ...` in four partial sums. */
function dotExpr(n: number, local: string, arr: string, off: string): string {
  const parts = range(Math.min(4, n)).map(
      lane => range(n).filter(c => c % 4 === lane).map(c => `${local}${c} * ${arr}[${off} + ${c}]`).join(' + '));
  return parts.map(p => `(${p})`).join(' + ');
}

function locals(n: number, name: string, init: (c: number) => string): string {
  return range(n).map(c => `let ${name}${c} = ${init(c)};`).join('\n');
}

function forwardSource(D: number, Dv: number): string {
  const scoreLoop = (keys: string, count: string, offset: string, bias: string, at: string) => `
    for (let m = 0; m < ${count}; m++) {
      const o = ${offset};
      let s = (${dotExpr(D, 'q', keys, 'o')})${bias};
      scores[${at}] = s;
      if (s > max) max = s;
    }`;
  const accLoop = (values: string, count: string, offset: string, at: string) => `
    for (let m = 0; m < ${count}; m++) {
      const p = Math.exp(scores[${at}] - max);
      sum += p;
      const o = ${offset};
      ${range(Dv).map(c => `acc${c} += p * ${values}[o + ${c}];`).join(' ')}
    }`;
  return `
    const query = a.query, key = a.key, value = a.value, rpb = a.rpb, keyToken = a.keyToken;
    const rpbOffset = a.rpbOffset, n = a.n, nExtra = a.nExtra, kStride = a.kStride, vStride = a.vStride;
    const kBase = a.kBase, vBase = a.vBase, rpbBase = a.rpbBase, qOff = a.qOff, scale = a.scale;
    ${locals(D, 'q', c => `scale * query[qOff + ${c}]`)}
    let max = -Infinity;
    if (rpb === null) {
      ${scoreLoop('key', 'n', 'kBase + keyToken[m] * kStride', '', 'm')}
    } else {
      ${scoreLoop('key', 'n', 'kBase + keyToken[m] * kStride', ' + rpb[rpbBase + rpbOffset[m]]', 'm')}
    }
    const extraKeys = a.extraKeys, extraValues = a.extraValues;
    ${scoreLoop('extraKeys', 'nExtra', 'a.ekBase + m * kStride', '', 'n + m')}
    let sum = 0;
    ${locals(Dv, 'acc', () => '0')}
    ${accLoop('value', 'n', 'vBase + keyToken[m] * vStride', 'm')}
    ${accLoop('extraValues', 'nExtra', 'a.evBase + m * vStride', 'n + m')}
    const inv = 1 / sum, oOff = a.oOff;
    ${range(Dv).map(c => `output[oOff + ${c}] = acc${c} * inv;`).join('\n')}
    return Math.log(sum) + max;`;
}

function backwardSource(D: number, Dv: number): string {
  // One neighbor (or extra token): recompute p, then dS, then the three gradient updates.
  const body = (keys: string, values: string, dK: string, dV: string, kOff: string, vOff: string, bias: boolean) => `
      const ko = ${kOff}, vo = ${vOff};
      let s = a.scale * (${dotExpr(D, 'q', keys, 'ko')});
      ${bias ? 'const ro = rpbBase + rpbOffset[m]; s += rpb[ro];' : ''}
      const p = Math.exp(s - lse);
      const dS = p * ((${dotExpr(Dv, 'dO', values, 'vo')}) - delta);
      ${bias ? 'dRpb[ro] += dS;' : ''}
      const g = a.scale * dS;
      ${range(D).map(c => `gq${c} += g * ${keys}[ko + ${c}]; ${dK}[ko + ${c}] += g * q${c};`).join('\n')}
      ${range(Dv).map(c => `${dV}[vo + ${c}] += p * dO${c};`).join('\n')}`;
  const neighbor = (bias: boolean) =>
      body('key', 'value', 'dKey', 'dValue', 'kBase + keyToken[m] * kStride', 'vBase + keyToken[m] * vStride', bias);
  return `
    const query = a.query, key = a.key, value = a.value, rpb = a.rpb, keyToken = a.keyToken;
    const rpbOffset = a.rpbOffset, n = a.n, nExtra = a.nExtra, kStride = a.kStride, vStride = a.vStride;
    const kBase = a.kBase, vBase = a.vBase, rpbBase = a.rpbBase, qOff = a.qOff, oOff = a.oOff;
    const dKey = a.dKey, dValue = a.dValue, dRpb = a.dRpb, lse = a.lse, delta = a.delta;
    ${locals(D, 'q', c => `query[qOff + ${c}]`)}
    ${locals(Dv, 'dO', c => `a.dOutput[oOff + ${c}]`)}
    ${locals(D, 'gq', () => '0')}
    if (rpb === null) {
      for (let m = 0; m < n; m++) {${neighbor(false)}
      }
    } else {
      for (let m = 0; m < n; m++) {${neighbor(true)}
      }
    }
    const extraKeys = a.extraKeys, extraValues = a.extraValues, dEK = a.dExtraKeys, dEV = a.dExtraValues;
    for (let m = 0; m < nExtra; m++) {${
      body('extraKeys', 'extraValues', 'dEK', 'dEV', 'a.ekBase + m * kStride', 'a.evBase + m * vStride', false)}
    }
    const dQuery = a.dQuery;
    ${range(D).map(c => `dQuery[qOff + ${c}] = gq${c};`).join('\n')}`;
}

const cache = new Map<string, RowKernels | null>();

/** Generated row kernels for these head dims, or null when code generation is unavailable. */
export function getRowKernels(D: number, Dv: number): RowKernels | null {
  const id = `${D},${Dv}`;
  if (!cache.has(id)) {
    let kernels: RowKernels | null = null;
    if (D <= MAX_CODEGEN_DIM && Dv <= MAX_CODEGEN_DIM) {
      try {
        kernels = {
          forward: new Function('a', 'scores', 'output', forwardSource(D, Dv)) as RowKernels['forward'],
          backward: new Function('a', backwardSource(D, Dv)) as RowKernels['backward'],
        };
      } catch {
        kernels = null;  // e.g. a Content-Security-Policy that forbids eval
      }
    }
    cache.set(id, kernels);
  }
  return cache.get(id)!;
}
