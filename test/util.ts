/** Helpers shared by the op test suites. */
import * as tf from '@tensorflow/tfjs';
import {na1d, na1dAV, na1dQK, na2d, na2dAV, na2dQK, na3d, na3dAV, na3dQK, NAOptions} from '../src/index';
import {RefInputs, RefProblem} from './reference';

export const FUSED = [na1d, na2d, na3d];
export const QK = [na1dQK, na2dQK, na3dQK];
export const AV = [na1dAV, na2dAV, na3dAV];

/** mulberry32: a small seeded generator, so every random case can be rerun from its seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randInt(r: () => number, lo: number, hi: number): number {
  return lo + Math.floor(r() * (hi - lo + 1));
}

/** Normal-ish values (sum of uniforms), rounded to float32. */
export function randArray(r: () => number, n: number, amp = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = amp * (r() + r() + r() - 1.5) * 2;
  }
  return out;
}

export interface ProblemTensors {
  q: tf.Tensor;
  k: tf.Tensor;
  v: tf.Tensor;
  rpb?: tf.Tensor;
  addK?: tf.Tensor;
  addV?: tf.Tensor;
  /** Plain values of the same, for the reference. */
  values: RefInputs;
  options: NAOptions;
  dispose(): void;
}

export function shapes(p: RefProblem) {
  return {
    q: [p.batch, ...p.spatial, p.heads, p.headDim],
    k: [p.batch, ...p.spatial, p.headsKv, p.headDim],
    v: [p.batch, ...p.spatial, p.headsKv, p.headDimV],
    out: [p.batch, ...p.spatial, p.heads, p.headDimV],
    lse: [p.batch, ...p.spatial, p.heads],
    weights: [p.batch, ...p.spatial, p.heads, p.kernelSize.reduce((a, b) => a * b, 1) + p.nExtra],
    rpb: [p.heads, ...p.kernelSize.map(k => 2 * k - 1)],
    addK: [p.batch, p.nExtra, p.headsKv, p.headDim],
    addV: [p.batch, p.nExtra, p.headsKv, p.headDimV],
  };
}

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** RefInputs held as Float32Arrays, what the kernels' implementations take. */
export interface F32Inputs extends RefInputs {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  rpb?: Float32Array;
  addK?: Float32Array;
  addV?: Float32Array;
}

/**
 * Makes a key far below the rest in place (x from makeValues, head dim 16 and scale 1/4, the default): every
 * query all ones, the keys of last-axis column `col` all -30 (score -120, the others within +-4, so more than
 * 87 below each query's largest: float32's exp underflows there), their values' first entry 1e38 (a weight
 * of float's smallest normal, 2^-126, would move an output by about 1; the true weight, e^-116 or less, by
 * nothing visible).
 */
export function farKeyColumn(p: RefProblem, x: F32Inputs, col: number): void {
  const D = p.headDim, Dv = p.headDimV, kv = p.headsKv, W = p.spatial[p.naDim - 1];
  if (D !== 16 || p.scale !== 0.25 || p.nExtra > 0 || p.hasRpb) {
    throw new Error('farKeyColumn: head dim 16, scale 1/4, no extra tokens, no rpb');
  }
  x.q.fill(1);
  const tokens = x.k.length / (kv * D);
  for (let t = 0; t < tokens; ++t) {
    if (t % W !== col) continue;
    for (let h = 0; h < kv; ++h) {
      x.k.fill(-30, (t * kv + h) * D, (t * kv + h + 1) * D);
      x.v[(t * kv + h) * Dv] = 1e38;
    }
  }
}

/** Random inputs of a problem as plain arrays: q, k, v, then rpb and the extra tokens where the problem has them. */
export function makeValues(p: RefProblem, seed: number): F32Inputs {
  const r = rng(seed);
  const s = shapes(p);
  const values: F32Inputs = {
    q: randArray(r, size(s.q)),
    k: randArray(r, size(s.k)),
    v: randArray(r, size(s.v)),
  };
  if (p.hasRpb) {
    values.rpb = randArray(r, size(s.rpb), 0.5);
  }
  if (p.nExtra > 0) {
    values.addK = randArray(r, size(s.addK));
    values.addV = randArray(r, size(s.addV));
  }
  return values;
}

/** Random inputs of a problem (those of makeValues), as tensors and as plain arrays for the reference. */
export function makeInputs(p: RefProblem, seed: number): ProblemTensors {
  return tensorsOf(p, makeValues(p, seed));
}

/** Given inputs of a problem (e.g. makeValues' with some entries changed) as tensors, and the problem's options. */
export function tensorsOf(p: RefProblem, values: F32Inputs): ProblemTensors {
  const s = shapes(p);
  const options: NAOptions = {
    kernelSize: p.kernelSize,
    stride: p.stride,
    dilation: p.dilation,
    isCausal: p.isCausal,
    scale: p.scale,
  };
  const t: ProblemTensors = {
    q: tf.tensor(values.q, s.q),
    k: tf.tensor(values.k, s.k),
    v: tf.tensor(values.v, s.v),
    values,
    options,
    dispose: () => tf.dispose([t.q, t.k, t.v, t.rpb, t.addK, t.addV].filter(x => x != null) as tf.Tensor[]),
  };
  if (p.hasRpb) {
    t.rpb = options.rpb = tf.tensor(values.rpb!, s.rpb);
  }
  if (p.nExtra > 0) {
    t.addK = options.additionalKeys = tf.tensor(values.addK!, s.addK);
    t.addV = options.additionalValues = tf.tensor(values.addV!, s.addV);
  }
  return t;
}

/** The bytes of a typed array's own elements (a view's, not its whole buffer's: the native outputs are views). */
export function bytesOf(x: ArrayBufferView): Buffer {
  return Buffer.from(x.buffer, x.byteOffset, x.byteLength);
}

/** Max |a - b| with NaN/Infinity positions required to agree. */
export function maxAbsDiff(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) {
    return Infinity;
  }
  let m = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    if (!Number.isFinite(e) || !Number.isFinite(a)) {
      if (!Object.is(a, e) && !(Number.isNaN(a) && Number.isNaN(e))) {
        return Infinity;
      }
      continue;
    }
    m = Math.max(m, Math.abs(a - e));
  }
  return m;
}

/**
 * TF32 tolerance. The CUDA kernels multiply on tensor cores in TF32 by default (10-bit mantissas, like
 * TensorFlow on Ampere and newer), so their errors scale with the magnitude of the values: while a TF32 test
 * backend is active (harness.ts), every tolerance of these suites gains TF32_RELATIVE times the largest
 * |expected| value. Everywhere else (CPU kernels, CUDA in float32) the tolerances are unchanged. (On the host
 * emulator, which rounds like the hardware, the largest excess over the float32 tolerances across the
 * goldens, sweep, gradient and split suites was 2e-3 times the largest |expected|.)
 */
export const TF32_RELATIVE = 1e-2;
let tf32Active = false;

export function setTf32Tolerance(active: boolean): void {
  tf32Active = active;
}

function maxAbs(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) {
    if (Number.isFinite(values[i])) {
      m = Math.max(m, Math.abs(values[i]));
    }
  }
  return m;
}

/**
 * Runs `fn` with the CUDA kernels in full float32 (no effect elsewhere): finite differences of a TF32 forward
 * are its rounding noise divided by the step, so they are taken in float32 and the TF32 gradients are held
 * to them. (Async: the setting holds until the body's promise settles.)
 */
export async function inFloat32<T>(fn: () => Promise<T>): Promise<T> {
  const saved = process.env.NATTEN_CUDA_ALLOW_TF32;
  process.env.NATTEN_CUDA_ALLOW_TF32 = '0';
  try {
    return await fn();
  } finally {
    if (saved === undefined) {
      delete process.env.NATTEN_CUDA_ALLOW_TF32;
    } else {
      process.env.NATTEN_CUDA_ALLOW_TF32 = saved;
    }
  }
}

/** `atol`, widened under TF32 (see TF32_RELATIVE) by the magnitude of `expected`. */
export function tolerance(atol: number, expected: ArrayLike<number>): number {
  return tf32Active ? atol + TF32_RELATIVE * maxAbs(expected) : atol;
}

export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, what: string):
    void {
  const d = maxAbsDiff(actual, expected);
  const tol = tolerance(atol, expected);
  if (!(d <= tol)) {
    throw new Error(`${what}: max |diff| ${d} > ${tol} (lengths ${actual.length} vs ${expected.length})`);
  }
}

function countTensors(x: unknown): number {
  if (x instanceof tf.Tensor) {
    return 1;
  }
  if (x != null && typeof x === 'object') {
    return Object.values(x).reduce((n: number, v) => n + countTensors(v), 0);
  }
  return 0;
}

/** Runs `fn` and checks that it left no tensor behind. */
export function expectNoLeak<T>(fn: () => T): T {
  const before = tf.memory().numTensors;
  const out = fn();
  const kept = tf.memory().numTensors - before;
  const held = countTensors(out);
  if (kept !== held) {
    throw new Error(`leak: ${kept} new tensors, ${held} returned`);
  }
  return out;
}

export function describeProblem(p: RefProblem): string {
  const axes = (xs: unknown[]) => xs.join('x');
  return `${p.naDim}d b${p.batch} L=${axes(p.spatial)} h${p.heads}/${p.headsKv} d${p.headDim}/${p.headDimV} ` +
      `k=${axes(p.kernelSize)} s=${axes(p.stride)} dil=${axes(p.dilation)} causal=${
             axes(p.isCausal.map(c => (c ? 1 : 0)))}` +
      `${p.hasRpb ? ' rpb' : ''}${p.nExtra ? ` extra${p.nExtra}` : ''}`;
}
