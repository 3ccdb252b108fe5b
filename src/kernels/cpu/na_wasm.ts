/**
 * The fused forward and backward as WebAssembly with 128-bit SIMD, generated per (headDim, headDimV).
 *
 * The host (this file) copies the inputs into a fresh WebAssembly memory, walks the query tokens, fills the
 * token's neighbor list (core/neighbors.ts, the one copy of the index math) straight into that memory, and
 * calls the module once per token; the module loops over the heads and the neighbors. Head dims are
 * processed four lanes at a time with a scalar tail, so any head dim up to MAX_WASM_DIM runs here.
 *
 * Numerics: dot products, softmax and accumulators are float32 (the JS paths use float64); exp is a
 * range-reduced degree-7 polynomial, within about 2 ulp of Math.exp in float32; drpb is accumulated in
 * float64. Everything else is the computation of na_impl.ts, and the tests run both.
 *
 * Returns null (and na_impl.ts takes the JS path) when WebAssembly or its SIMD is missing, when synchronous
 * compilation is refused (browsers' main thread limits it), or when the problem does not fit MAX_BYTES.
 */
import {NAInfo} from '../../core/na_info';
import {makeNeighborList, NeighborList} from '../../core/neighbors';
import {buildModule, FuncBuilder, Op, SimdOp, ValType} from './wasm_builder';
import type {NABackwardResult, NAForwardResult} from './na_impl';

type F32 = Float32Array;

/** Largest head dim that gets a module (its q, output and gradient rows live in locals). */
export const MAX_WASM_DIM = 128;
/** Largest memory a call allocates; larger problems take the JS path. */
const MAX_BYTES = 2 ** 31 - 2 ** 16;
const PAGE = 65536;

const {I32, F32: TF32, V128} = ValType;

// Pieces of generated code shared by the two functions -------------------------------------------------

/** Locals holding a row of `dim` floats: `vec` v128 locals for 4-lane groups, `tail` f32 locals. */
interface RowLocals {
  vec: number[];
  tail: number[];
}

function rowLocals(f: FuncBuilder, dim: number): RowLocals {
  return {
    vec: Array.from({length: dim >> 2}, () => f.local(V128)),
    tail: Array.from({length: dim & 3}, () => f.local(TF32)),
  };
}

/** Byte offset of tail element c of a row of `dim` floats. */
const tailOffset = (dim: number, c: number) => 4 * ((dim & ~3) + c);

/** Balanced sum of `count` v128 terms (leaves pushed by `leaf`), for instruction-level parallelism. */
function vecTree(f: FuncBuilder, lo: number, hi: number, leaf: (i: number) => void): void {
  if (hi - lo === 1) {
    leaf(lo);
    return;
  }
  const mid = (lo + hi) >> 1;
  vecTree(f, lo, mid, leaf);
  vecTree(f, mid, hi, leaf);
  f.simd(SimdOp.F32x4Add);
}

/**
 * Pushes the f32 `dot(row, memory[addr ...])`. With `save`, the loaded 4-lane groups and tail elements are
 * also kept in `save`'s locals.
 */
function emitDot(f: FuncBuilder, row: RowLocals, addr: number, dim: number, tmp: number, save?: RowLocals): void {
  const V = row.vec.length;
  if (V > 0) {
    vecTree(f, 0, V, i => {
      f.get(row.vec[i]).get(addr).simdMem(SimdOp.Load, 16 * i);
      if (save) {
        f.tee(save.vec[i]);
      }
      f.simd(SimdOp.F32x4Mul);
    });
    f.tee(tmp).extractLane(0).get(tmp).extractLane(1).op(Op.F32Add);
    f.get(tmp).extractLane(2).get(tmp).extractLane(3).op(Op.F32Add).op(Op.F32Add);
  } else {
    f.f32(0);
  }
  row.tail.forEach((q, c) => {
    f.get(q).get(addr).mem(Op.F32Load, 2, tailOffset(dim, c));
    if (save) {
      f.tee(save.tail[c]);
    }
    f.op(Op.F32Mul, Op.F32Add);
  });
}

/** `memory[addr ...] += scale * row` (read-modify-write), `scaleVec`/`scale` the scale as v128 and f32. */
function emitAxpyToMemory(f: FuncBuilder, addr: number, row: RowLocals, dim: number, scaleVec: number,
                          scale: number): void {
  row.vec.forEach((r, i) => {
    f.get(addr).get(addr).simdMem(SimdOp.Load, 16 * i);
    f.get(scaleVec).get(r).simd(SimdOp.F32x4Mul).simd(SimdOp.F32x4Add);
    f.simdMem(SimdOp.Store, 16 * i);
  });
  row.tail.forEach((r, c) => {
    f.get(addr).get(addr).mem(Op.F32Load, 2, tailOffset(dim, c));
    f.get(scale).get(r).op(Op.F32Mul, Op.F32Add);
    f.mem(Op.F32Store, 2, tailOffset(dim, c));
  });
}

/** `row += scale * memory[addr ...]`, or with `saved` the row of locals in place of memory. */
function emitAxpyToLocals(f: FuncBuilder, row: RowLocals, addr: number, dim: number, scaleVec: number,
                          scale: number, saved?: RowLocals): void {
  row.vec.forEach((r, i) => {
    f.get(r).get(scaleVec);
    if (saved) {
      f.get(saved.vec[i]);
    } else {
      f.get(addr).simdMem(SimdOp.Load, 16 * i);
    }
    f.simd(SimdOp.F32x4Mul).simd(SimdOp.F32x4Add).set(r);
  });
  row.tail.forEach((r, c) => {
    f.get(r).get(scale);
    if (saved) {
      f.get(saved.tail[c]);
    } else {
      f.get(addr).mem(Op.F32Load, 2, tailOffset(dim, c));
    }
    f.op(Op.F32Mul, Op.F32Add).set(r);
  });
}

/** Loads a row from `memory[addr ...]` into locals, each group times `scaleVec` when given. */
function emitLoadRow(f: FuncBuilder, row: RowLocals, addr: number, dim: number, scaleVec = -1, scale = -1): void {
  row.vec.forEach((r, i) => {
    f.get(addr).simdMem(SimdOp.Load, 16 * i);
    if (scaleVec >= 0) {
      f.get(scaleVec).simd(SimdOp.F32x4Mul);
    }
    f.set(r);
  });
  row.tail.forEach((r, c) => {
    f.get(addr).mem(Op.F32Load, 2, tailOffset(dim, c));
    if (scale >= 0) {
      f.get(scale).op(Op.F32Mul);
    }
    f.set(r);
  });
}

function emitZeroRow(f: FuncBuilder, row: RowLocals): void {
  row.vec.forEach(r => f.f32(0).simd(SimdOp.F32x4Splat).set(r));
  row.tail.forEach(r => f.f32(0).set(r));
}

/** `memory[addr ...] = row * scale` (scale optional). */
function emitStoreRow(f: FuncBuilder, addr: number, row: RowLocals, dim: number, scaleVec = -1, scale = -1): void {
  row.vec.forEach((r, i) => {
    f.get(addr).get(r);
    if (scaleVec >= 0) {
      f.get(scaleVec).simd(SimdOp.F32x4Mul);
    }
    f.simdMem(SimdOp.Store, 16 * i);
  });
  row.tail.forEach((r, c) => {
    f.get(addr).get(r);
    if (scale >= 0) {
      f.get(scale).op(Op.F32Mul);
    }
    f.mem(Op.F32Store, 2, tailOffset(dim, c));
  });
}

/**
 * Pushes exp(x) for the f32 local x (clobbered), with x clamped to [-87, 88]: x = n ln2 + r, |r| <= ln2/2,
 * exp(r) by its Taylor polynomial of degree 7 (relative error below 1e-8 before rounding), times 2^n
 * built from the exponent bits; times 0 below -87 (and for -Inf), where exp(-87), about 1.6e-38, would weigh
 * a value near float's largest at about 1. NaN stays NaN (the saturating truncation maps it to 0, not a trap,
 * and NaN times the 0 of its failed comparison is NaN).
 */
export function emitExp(f: FuncBuilder, x: number, n: number): void {
  f.get(x).f32(-87).op(Op.F32Ge, Op.F32ConvertI32U);
  f.get(x).f32(-87).op(Op.F32Max).f32(88).op(Op.F32Min).tee(x);
  f.f32(Math.LOG2E).op(Op.F32Mul, Op.F32Nearest).set(n);
  // ln2 split so that n * LN2_HI is exact in float32 for |n| <= 127.
  f.get(x).get(n).f32(0.693145751953125).op(Op.F32Mul, Op.F32Sub);
  f.get(n).f32(1.4286068203094172e-6).op(Op.F32Mul, Op.F32Sub).set(x);
  let factorial = 5040;
  f.f32(1 / factorial);
  for (let k = 6; k >= 0; k--) {
    factorial = k === 0 ? 1 : factorial / (k + 1);
    f.get(x).op(Op.F32Mul).f32(1 / factorial).op(Op.F32Add);
  }
  f.get(n).truncSatF32S().i32(127).op(Op.I32Add).i32(23).op(Op.I32Shl).op(Op.F32ReinterpretI32);
  f.op(Op.F32Mul, Op.F32Mul);
}

/** `for (counter = 0; counter < limit; counter++) body()`; `limit` pushes an i32. */
function emitFor(f: FuncBuilder, counter: number, limit: () => void, body: () => void): void {
  f.i32(0).set(counter);
  f.begin(Op.Block).begin(Op.Loop);
  f.get(counter);
  limit();
  f.op(Op.I32GeS).op(Op.BrIf).u(1);
  body();
  f.get(counter).i32(1).op(Op.I32Add).set(counter);
  f.op(Op.Br).u(0);
  f.end().end();
}

/** `dst = a + b * c` over i32 locals/constants given as emitters. */
function emitMulAdd(f: FuncBuilder, dst: number, a: () => void, b: () => void, c: () => void): void {
  a();
  b();
  c();
  f.op(Op.I32Mul, Op.I32Add).set(dst);
}

/** Params both functions take, by name (see FWD_PARAMS / BWD_PARAMS). */
type BaseParams = Record<'kBase' | 'vBase' | 'ekBase' | 'evBase' | 'headsPerKv' | 'rpbPtr' | 'rpbHeadBytes', number>;

/**
 * Start of head h: the byte offsets of its kv head's key/value token 0 (and extra token 0), and of its rpb
 * block, into the given i32 locals.
 */
function emitHeadBases(f: FuncBuilder, p: BaseParams, h: number,
                       out: Record<'kb' | 'vb' | 'ekb' | 'evb' | 'rpbH', number>, D: number, Dv: number): void {
  const kvHead = f.local(I32);
  f.get(h).get(p.headsPerKv).op(Op.I32DivU).set(kvHead);
  const hk = () => f.get(kvHead);
  emitMulAdd(f, out.kb, () => f.get(p.kBase), hk, () => f.i32(4 * D));
  emitMulAdd(f, out.vb, () => f.get(p.vBase), hk, () => f.i32(4 * Dv));
  emitMulAdd(f, out.ekb, () => f.get(p.ekBase), hk, () => f.i32(4 * D));
  emitMulAdd(f, out.evb, () => f.get(p.evBase), hk, () => f.i32(4 * Dv));
  emitMulAdd(f, out.rpbH, () => f.get(p.rpbPtr), () => f.get(h), () => f.get(p.rpbHeadBytes));
}

// The forward ------------------------------------------------------------------------------------------

const FWD_PARAMS = ['qPtr', 'oPtr', 'statPtr', 'kBase', 'vBase', 'ekBase', 'evBase', 'n', 'nExtra', 'heads',
                    'headsPerKv', 'kStride', 'vStride', 'rpbPtr', 'rpbHeadBytes', 'ktPtr', 'roPtr', 'scPtr',
                    'scale'] as const;

function params<T extends readonly string[]>(names: T): Record<T[number], number> {
  return Object.fromEntries(names.map((n, i) => [n, i])) as Record<T[number], number>;
}

/**
 * fwd(...FWD_PARAMS): for every head h of one query token, writes the output row and [max, sum] of the
 * row's scores to statPtr (the host turns them into the logsumexp). Pointers are byte offsets; rpbPtr 0
 * means no rpb.
 */
function forwardFunc(D: number, Dv: number): FuncBuilder {
  const f = new FuncBuilder([...FWD_PARAMS.map((_, i) => i === FWD_PARAMS.length - 1 ? TF32 : I32)]);
  const p = params(FWD_PARAMS);
  const [h, kb, vb, ekb, evb, rpbH, m, m4, ko, vo] = Array.from({length: 10}, () => f.local(I32));
  const [s, max, sum, pr, x, nExp, inv] = Array.from({length: 7}, () => f.local(TF32));
  const [scaleVec, pVec, invVec] = [f.local(V128), f.local(V128), f.local(V128)];
  const tmp = f.local(V128);  // scratch of the horizontal sums
  const q = rowLocals(f, D), acc = rowLocals(f, Dv);

  f.get(p.scale).simd(SimdOp.F32x4Splat).set(scaleVec);
  emitFor(f, h, () => f.get(p.heads), () => {
    emitHeadBases(f, p, h, {kb, vb, ekb, evb, rpbH}, D, Dv);
    emitLoadRow(f, q, p.qPtr, D, scaleVec, p.scale);
    f.f32(-Infinity).set(max);

    // Scores of the neighbors (then the extra tokens) into scPtr, and their max.
    const scoreLoop = (extra: boolean, bias: boolean) => emitFor(f, m, () => f.get(extra ? p.nExtra : p.n), () => {
      f.get(m).i32(2).op(Op.I32Shl).set(m4);
      if (extra) {
        emitMulAdd(f, ko, () => f.get(ekb), () => f.get(m), () => f.get(p.kStride));
        f.get(p.scPtr).get(p.n).i32(2).op(Op.I32Shl).op(Op.I32Add).get(m4).op(Op.I32Add);
      } else {
        emitMulAdd(f, ko, () => f.get(kb), () => f.get(p.ktPtr).get(m4).op(Op.I32Add).mem(Op.I32Load, 2),
                   () => f.get(p.kStride));
        f.get(p.scPtr).get(m4).op(Op.I32Add);
      }
      emitDot(f, q, ko, D, tmp);
      if (bias) {
        f.get(rpbH).get(p.roPtr).get(m4).op(Op.I32Add).mem(Op.I32Load, 2).i32(2).op(Op.I32Shl).op(Op.I32Add);
        f.mem(Op.F32Load, 2).op(Op.F32Add);
      }
      f.tee(s).mem(Op.F32Store, 2);
      f.get(max).get(s).op(Op.F32Max).set(max);
    });
    f.get(p.rpbPtr).op(Op.I32Eqz).begin(Op.If);
    scoreLoop(false, false);
    f.op(Op.Else);
    scoreLoop(false, true);
    f.end();
    scoreLoop(true, false);

    // Softmax numerators and the weighted sum of values.
    f.f32(0).set(sum);
    emitZeroRow(f, acc);
    const accLoop = (extra: boolean) => emitFor(f, m, () => f.get(extra ? p.nExtra : p.n), () => {
      f.get(m).i32(2).op(Op.I32Shl).set(m4);
      if (extra) {
        emitMulAdd(f, vo, () => f.get(evb), () => f.get(m), () => f.get(p.vStride));
        f.get(p.scPtr).get(p.n).i32(2).op(Op.I32Shl).op(Op.I32Add).get(m4).op(Op.I32Add);
      } else {
        emitMulAdd(f, vo, () => f.get(vb), () => f.get(p.ktPtr).get(m4).op(Op.I32Add).mem(Op.I32Load, 2),
                   () => f.get(p.vStride));
        f.get(p.scPtr).get(m4).op(Op.I32Add);
      }
      f.mem(Op.F32Load, 2).get(max).op(Op.F32Sub).set(x);
      emitExp(f, x, nExp);
      f.tee(pr).get(sum).op(Op.F32Add).set(sum);
      f.get(pr).simd(SimdOp.F32x4Splat).set(pVec);
      emitAxpyToLocals(f, acc, vo, Dv, pVec, pr);
    });
    accLoop(false);
    accLoop(true);

    f.f32(1).get(sum).op(Op.F32Div).tee(inv).simd(SimdOp.F32x4Splat).set(invVec);
    emitStoreRow(f, p.oPtr, acc, Dv, invVec, inv);
    f.get(p.statPtr).get(max).mem(Op.F32Store, 2, 0);
    f.get(p.statPtr).get(sum).mem(Op.F32Store, 2, 4);
    for (const [ptr, bytes] of [[p.qPtr, 4 * D], [p.oPtr, 4 * Dv], [p.statPtr, 8]]) {
      f.get(ptr).i32(bytes).op(Op.I32Add).set(ptr);
    }
  });
  return f;
}

// The backward -----------------------------------------------------------------------------------------

const BWD_PARAMS = ['qPtr', 'oPtr', 'lsePtr', 'dLsePtr', 'kBase', 'vBase', 'ekBase', 'evBase', 'n', 'nExtra',
                    'heads', 'headsPerKv', 'kStride', 'vStride', 'rpbPtr', 'rpbHeadBytes', 'dRpbPtr', 'ktPtr',
                    'roPtr', 'dqDelta', 'doDelta', 'dkDelta', 'dvDelta', 'dekDelta', 'devDelta', 'scale'] as const;

/**
 * bwd(...BWD_PARAMS): for every head of one query token, recomputes each neighbor's probability from the
 * logsumexp and adds the row's contributions to dK, dV (float32, in place) and dRpb (float64); writes dQ.
 * Gradient arrays sit at fixed byte distances (the *Delta params) from their inputs: dQ from Q, dO from O,
 * dK from K, and so on. dLsePtr / rpbPtr 0 mean absent.
 */
function backwardFunc(D: number, Dv: number): FuncBuilder {
  const f = new FuncBuilder([...BWD_PARAMS.map((_, i) => i === BWD_PARAMS.length - 1 ? TF32 : I32)]);
  const p = params(BWD_PARAMS);
  const [h, kb, vb, ekb, evb, rpbH, dRpbH, m, m4, ko, vo, kt, ro, addr] =
      Array.from({length: 14}, () => f.local(I32));
  const [pr, x, nExp, delta, lse, dS, g] = Array.from({length: 7}, () => f.local(TF32));
  const [gVec, pVec] = [f.local(V128), f.local(V128)];
  const tmp = f.local(V128);  // scratch of the horizontal sums
  const q = rowLocals(f, D), dO = rowLocals(f, Dv), gq = rowLocals(f, D), k = rowLocals(f, D);

  emitFor(f, h, () => f.get(p.heads), () => {
    emitHeadBases(f, p, h, {kb, vb, ekb, evb, rpbH}, D, Dv);
    emitMulAdd(f, dRpbH, () => f.get(p.dRpbPtr), () => f.get(h), () => f.get(p.rpbHeadBytes).i32(1).op(Op.I32Shl));
    emitLoadRow(f, q, p.qPtr, D);
    f.get(p.oPtr).get(p.doDelta).op(Op.I32Add).set(addr);
    emitLoadRow(f, dO, addr, Dv);
    emitZeroRow(f, gq);
    // delta = dot(dO, O) - dLse: the softmax backward's row term with the logsumexp's own gradient.
    emitDot(f, dO, p.oPtr, Dv, tmp);
    f.set(delta);
    f.get(p.dLsePtr).begin(Op.If);
    f.get(delta).get(p.dLsePtr).get(h).i32(2).op(Op.I32Shl).op(Op.I32Add).mem(Op.F32Load, 2).op(Op.F32Sub);
    f.set(delta);
    f.end();
    f.get(p.lsePtr).get(h).i32(2).op(Op.I32Shl).op(Op.I32Add).mem(Op.F32Load, 2).set(lse);

    const loop = (extra: boolean, bias: boolean) => emitFor(f, m, () => f.get(extra ? p.nExtra : p.n), () => {
      if (extra) {
        emitMulAdd(f, ko, () => f.get(ekb), () => f.get(m), () => f.get(p.kStride));
        emitMulAdd(f, vo, () => f.get(evb), () => f.get(m), () => f.get(p.vStride));
      } else {
        f.get(m).i32(2).op(Op.I32Shl).set(m4);
        f.get(p.ktPtr).get(m4).op(Op.I32Add).mem(Op.I32Load, 2).set(kt);
        emitMulAdd(f, ko, () => f.get(kb), () => f.get(kt), () => f.get(p.kStride));
        emitMulAdd(f, vo, () => f.get(vb), () => f.get(kt), () => f.get(p.vStride));
      }
      emitDot(f, q, ko, D, tmp, k);
      f.get(p.scale).op(Op.F32Mul);
      if (bias) {
        f.get(p.roPtr).get(m4).op(Op.I32Add).mem(Op.I32Load, 2).set(ro);
        f.get(rpbH).get(ro).i32(2).op(Op.I32Shl).op(Op.I32Add).mem(Op.F32Load, 2).op(Op.F32Add);
      }
      f.get(lse).op(Op.F32Sub).set(x);
      emitExp(f, x, nExp);
      f.set(pr);
      emitDot(f, dO, vo, Dv, tmp);
      f.get(delta).op(Op.F32Sub).get(pr).op(Op.F32Mul).set(dS);
      if (bias) {
        f.get(dRpbH).get(ro).i32(3).op(Op.I32Shl).op(Op.I32Add).tee(addr);
        f.get(addr).mem(Op.F64Load, 3).get(dS).op(Op.F64PromoteF32, Op.F64Add).mem(Op.F64Store, 3);
      }
      f.get(dS).get(p.scale).op(Op.F32Mul).tee(g).simd(SimdOp.F32x4Splat).set(gVec);
      emitAxpyToLocals(f, gq, ko, D, gVec, g, k);
      f.get(ko).get(extra ? p.dekDelta : p.dkDelta).op(Op.I32Add).set(addr);
      emitAxpyToMemory(f, addr, q, D, gVec, g);
      f.get(pr).simd(SimdOp.F32x4Splat).set(pVec);
      f.get(vo).get(extra ? p.devDelta : p.dvDelta).op(Op.I32Add).set(addr);
      emitAxpyToMemory(f, addr, dO, Dv, pVec, pr);
    });
    f.get(p.rpbPtr).op(Op.I32Eqz).begin(Op.If);
    loop(false, false);
    f.op(Op.Else);
    loop(false, true);
    f.end();
    loop(true, false);

    f.get(p.qPtr).get(p.dqDelta).op(Op.I32Add).set(addr);
    emitStoreRow(f, addr, gq, D);
    f.get(p.qPtr).i32(4 * D).op(Op.I32Add).set(p.qPtr);
    f.get(p.oPtr).i32(4 * Dv).op(Op.I32Add).set(p.oPtr);
  });
  return f;
}

// The host side ----------------------------------------------------------------------------------------

interface NAWasmExports {
  fwd(...args: number[]): void;
  bwd(...args: number[]): void;
}

const modules = new Map<string, WebAssembly.Module | null>();

/** The compiled module for these head dims, or null where WebAssembly SIMD or sync compilation is missing. */
export function getNAWasmModule(D: number, Dv: number): WebAssembly.Module | null {
  const id = `${D},${Dv}`;
  if (!modules.has(id)) {
    let mod: WebAssembly.Module | null = null;
    if (D <= MAX_WASM_DIM && Dv <= MAX_WASM_DIM && typeof WebAssembly === 'object') {
      try {
        mod = new WebAssembly.Module(buildModule({fwd: forwardFunc(D, Dv), bwd: backwardFunc(D, Dv)}));
      } catch {
        mod = null;  // no SIMD, or synchronous compilation of this size refused
      }
    }
    modules.set(id, mod);
  }
  return modules.get(id)!;
}

/** Byte offsets of named regions in one memory, 16-byte aligned, after a reserved 0 (= "absent"). */
function layout(sizes: Record<string, number>): {offsets: Record<string, number>, bytes: number} {
  let at = 16;
  const offsets: Record<string, number> = {};
  for (const [name, bytes] of Object.entries(sizes)) {
    offsets[name] = bytes > 0 ? at : 0;
    at += Math.ceil(bytes / 16) * 16;
  }
  return {offsets, bytes: at};
}

/**
 * One memory serves every call and every module: fresh memory costs a page fault per 4 KiB on first touch
 * (13 ms for the 13 MB of the 2d benchmark on the 2-core CI machine, more than the kernel itself), so it is
 * kept between calls and grown when a call needs more. A memory grown past KEEP_BYTES is dropped after the
 * call that needed it.
 */
const KEEP_BYTES = 256 * 2 ** 20;
let arena: WebAssembly.Memory | null = null;
const instances = new Map<WebAssembly.Module, NAWasmExports>();

/** The kept memory, grown to `bytes`, and the module's instance on it; null when memory can't be had. */
function instantiate(mod: WebAssembly.Module, bytes: number): {memory: WebAssembly.Memory, fns: NAWasmExports} |
    null {
  const pages = Math.ceil(bytes / PAGE);
  try {
    if (arena == null) {
      arena = new WebAssembly.Memory({initial: pages});
      instances.clear();
    } else if (arena.buffer.byteLength < pages * PAGE) {
      arena.grow(pages - arena.buffer.byteLength / PAGE);
    }
  } catch {
    return null;  // out of memory for a WebAssembly memory this large: the JS path allocates per array
  }
  let fns = instances.get(mod);
  if (fns == null) {
    fns = new WebAssembly.Instance(mod, {env: {memory: arena}}).exports as unknown as NAWasmExports;
    instances.set(mod, fns);
  }
  return {memory: arena, fns};
}

/** Bytes of WebAssembly memory held between calls (0 when none). */
export function naWasmMemoryBytes(): number {
  return arena == null ? 0 : arena.buffer.byteLength;
}

/** Called after each call: drops a memory that grew too large to keep. */
function releaseIfLarge(): void {
  if (arena != null && arena.buffer.byteLength > KEEP_BYTES) {
    arena = null;
    instances.clear();
  }
}

/** One call's memory, instance, region offsets, neighbor list and strides. */
interface WasmCall {
  memory: WebAssembly.Memory;
  fns: NAWasmExports;
  /** Byte offset of each region (0 for an empty one). */
  o: Record<string, number>;
  nb: NeighborList;
  /** Bytes between key / value tokens, and per head of rpb. */
  kStride: number;
  vStride: number;
  rpbHeadBytes: number;
}

/**
 * Sets up a call: lays out the `inputs` (copied in), then the `outputs` regions (bytes, not cleared), then the
 * neighbor list, in the kept memory. Null when the module or the memory is unavailable.
 */
function beginCall(info: NAInfo, inputs: Record<string, F32 | null>, outputs: Record<string, number>):
    WasmCall | null {
  const mod = getNAWasmModule(info.headDim, info.headDimV);
  if (mod == null) {
    return null;
  }
  const K = info.kernelVolume;
  // Object.assign, not a literal adding properties after spreads (slow in Node 20: see computeNAInfo).
  const {offsets: o, bytes} = layout(Object.assign(
      Object.fromEntries(Object.entries(inputs).map(([name, x]) => [name, 4 * (x?.length ?? 0)])), outputs,
      {kt: 4 * K, ro: 4 * K}));
  const wasm = bytes > MAX_BYTES ? null : instantiate(mod, bytes);
  if (wasm == null) {
    return null;
  }
  const {memory, fns} = wasm;
  for (const [name, x] of Object.entries(inputs)) {
    if (x != null && x.length > 0) {
      new Float32Array(memory.buffer, o[name], x.length).set(x);
    }
  }
  const nb = makeNeighborList(info, {
    keyToken: new Int32Array(memory.buffer, o.kt, K), rpbOffset: new Int32Array(memory.buffer, o.ro, K),
  });
  return {
    memory, fns, o, nb, kStride: 4 * info.headsKv * info.headDim, vStride: 4 * info.headsKv * info.headDimV,
    rpbHeadBytes: 4 * info.rpbVolume,
  };
}

/**
 * Calls `body` for each query token with the index of its head-0 row, its neighbor count (the list filled in
 * memory) and the byte offsets of its batch's key/value/extra token 0.
 */
function forEachToken(info: NAInfo, c: WasmCall,
                      body: (row: number, n: number, kBase: number, vBase: number, ekBase: number, evBase: number) =>
                          void): void {
  const {numTokens: N, nExtra: E} = info;
  for (let b = 0; b < info.batch; b++) {
    const kBase = c.o.k + b * N * c.kStride, vBase = c.o.v + b * N * c.vStride;
    const ekBase = c.o.ek + b * E * c.kStride, evBase = c.o.ev + b * E * c.vStride;
    for (let t = 0; t < N; t++) {
      body((b * N + t) * info.heads, c.nb.fill(t), kBase, vBase, ekBase, evBase);
    }
  }
}

function copyOut(memory: WebAssembly.Memory, at: number, length: number): F32 {
  return new Float32Array(memory.buffer, at, length).slice();
}

/** The fused forward in WebAssembly, or null when unavailable for this call. */
export function naForwardWasm(info: NAInfo, query: F32, key: F32, value: F32, rpb: F32 | null,
                              additionalKeys: F32 | null, additionalValues: F32 | null): NAForwardResult | null {
  const {headDim: D, headDimV: Dv, nExtra: E} = info;
  const rows = info.batch * info.numTokens * info.heads;
  const c = beginCall(info, {q: query, k: key, v: value, rpb, ek: additionalKeys, ev: additionalValues},
                      {out: 4 * rows * Dv, stats: 8 * rows, sc: 4 * (info.kernelVolume + E)});
  if (c == null) {
    return null;
  }
  const o = c.o;
  forEachToken(info, c, (row, n, kBase, vBase, ekBase, evBase) => {
    c.fns.fwd(o.q + 4 * row * D, o.out + 4 * row * Dv, o.stats + 8 * row, kBase, vBase, ekBase, evBase, n, E,
              info.heads, info.headsPerKv, c.kStride, c.vStride, o.rpb, c.rpbHeadBytes, o.kt, o.ro, o.sc,
              info.scale);
  });
  const stats = new Float32Array(c.memory.buffer, o.stats, 2 * rows);
  const lse = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    lse[r] = Math.log(stats[2 * r + 1]) + stats[2 * r];
  }
  const output = copyOut(c.memory, o.out, rows * Dv);
  releaseIfLarge();
  return {output, lse};
}

/** The fused backward in WebAssembly, or null when unavailable for this call. */
export function naBackwardWasm(info: NAInfo, query: F32, key: F32, value: F32, output: F32, lse: F32, dOutput: F32,
                               dLse: F32 | null, rpb: F32 | null, additionalKeys: F32 | null,
                               additionalValues: F32 | null): NABackwardResult | null {
  const {headDim: D, headDimV: Dv, nExtra: E} = info;
  const ekBytes = 4 * (additionalKeys?.length ?? 0), evBytes = 4 * (additionalValues?.length ?? 0);
  const c = beginCall(info, {
    q: query, k: key, v: value, o: output, lse, dO: dOutput, dLse, rpb, ek: additionalKeys, ev: additionalValues,
  }, {
    dq: 4 * query.length, dk: 4 * key.length, dv: 4 * value.length, dRpb: rpb == null ? 0 : 8 * rpb.length,
    dek: ekBytes, dev: evBytes,
  });
  if (c == null) {
    return null;
  }
  const o = c.o;
  // The gradients accumulate in place: clear them (the memory is reused; dq is written whole). The
  // regions dk .. dev are contiguous, followed by the neighbor list.
  new Uint8Array(c.memory.buffer, o.dk, o.kt - o.dk).fill(0);
  forEachToken(info, c, (row, n, kBase, vBase, ekBase, evBase) => {
    c.fns.bwd(o.q + 4 * row * D, o.o + 4 * row * Dv, o.lse + 4 * row, o.dLse === 0 ? 0 : o.dLse + 4 * row, kBase,
              vBase, ekBase, evBase, n, E, info.heads, info.headsPerKv, c.kStride, c.vStride, o.rpb, c.rpbHeadBytes,
              o.dRpb, o.kt, o.ro, o.dq - o.q, o.dO - o.o, o.dk - o.k, o.dv - o.v, o.dek - o.ek, o.dev - o.ev,
              info.scale);
  });
  const result = {
    dQuery: copyOut(c.memory, o.dq, query.length),
    dKey: copyOut(c.memory, o.dk, key.length),
    dValue: copyOut(c.memory, o.dv, value.length),
    dRpb: rpb == null ? null : Float32Array.from(new Float64Array(c.memory.buffer, o.dRpb, rpb.length)),
    dAdditionalKeys: E > 0 ? copyOut(c.memory, o.dek, additionalKeys!.length) : null,
    dAdditionalValues: E > 0 ? copyOut(c.memory, o.dev, additionalValues!.length) : null,
  };
  releaseIfLarge();
  return result;
}
