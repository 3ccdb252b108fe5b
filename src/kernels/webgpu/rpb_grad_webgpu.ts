/**
 * Gradient of the relative positional bias, where the tiled dq pass does not sum it itself (the row programs' path,
 * and calls whose table or partial sums do not fit: fusedRpbSlots below). rpbGradient picks between two programs.
 *
 * RpbGradProgram, the fallback (partial sums over the limits): one workgroup per (head, rpb entry). An entry fixes the key's
 * offset from the query per axis, so the queries that use it form a product of per-axis sets: the threads
 * take every query of the batch in turn and keep those whose windows contain that offset on every axis
 * (getAxisWindow: the slot is `idx - rpbBase`). (They took (batch, axis-0 coordinate) pairs before: with one
 * batch, a 1-D or 2-D call had one working thread per workgroup, and the pass took more than half of a 2-D
 * forward+backward on the software adapter.) Each term is dS of that (query, slot): recomputed
 * from the saved logsumexp and delta (`fused`, the fused backward), or read from the upstream gradient of the
 * logits (`given`, the split QK backward). The workgroup sums its terms: no atomics. Output `[heads*rpbVolume]`.
 */
import type {TensorInfo} from '@tensorflow/tfjs-core';
import type {NAInfo} from '../../core/na_info';
import {sumRows} from './copy_webgpu';
import {run} from './kernel_util';
import {Backend, DeviceLimits, deviceLimits, disposeAll, GEOMETRY_WGSL, geometryUniforms, NAProgram} from './program_util';
import {GemmTileTraits, gemmWorkgroupBytes} from './tile_traits';

const THREADS = 64;

/**
 * WGSL, the body of `fn term(b, h, entry, token, keyToken, slot) -> f32`: the rpb gradient's term of one (query,
 * key) pair, dS recomputed from the saved logsumexp and delta (`fused`) or read from the logits' gradient (`given`).
 */
function termBody(mode: 'fused' | 'given'): string {
  const D = 'uniforms.headDim', Dv = 'uniforms.headDimV';
  return mode === 'fused' ? `
  let qRow = (b * uniforms.numTokens + token) * uniforms.heads + h;
  let kRow = (b * uniforms.numTokens + keyToken) * uniforms.headsKv + h / uniforms.headsPerKv;
  var s = 0.0;
  for (var c = 0; c < ${D}; c++) {
    s = fma(query[qRow * ${D} + c], key[kRow * ${D} + c], s);
  }
  let p = exp(s * uniforms.scale + rpb[h * rpbVolume() + entry] - stats[2 * qRow]);
  var dp = 0.0;
  for (var c = 0; c < ${Dv}; c++) {
    dp = fma(dOut[qRow * ${Dv} + c], value[kRow * ${Dv} + c], dp);
  }
  return p * (dp - stats[2 * qRow + 1]);` : `
  let qRow = (b * uniforms.numTokens + token) * uniforms.heads + h;
  return dLogits[qRow * (uniforms.kernelVolume + uniforms.nExtra) + slot];`;
}

export class RpbGradProgram extends NAProgram {
  constructor(private mode: 'fused' | 'given', count: number, maxPerDimension: number) {
    super('rpb_grad', mode,
          mode === 'fused' ? ['query', 'key', 'value', 'dOut', 'stats', 'rpb'] : ['dLogits'], count, count,
          THREADS, maxPerDimension);
  }

  getUserCode(): string {
    const term = termBody(this.mode);
    return `
${GEOMETRY_WGSL}
var<workgroup> partial : array<f32, ${THREADS}>;

// Slot along axis a of key offset idx (an rpb index) for query coordinate i, or -1 when outside the window.
fn axisSlot(a : i32, i : i32, idx : i32) -> i32 {
  let w = getAxisWindow(i, uniforms.lengths[a], uniforms.kernel[a], uniforms.stride[a], uniforms.dilation[a],
                        axisCausal(a));
  let t = idx - w.rpbBase;
  return select(-1, t, t >= 0 && t < w.count);
}

fn term(b : i32, h : i32, entry : i32, token : i32, keyToken : i32, slot : i32) -> f32 {${term}
}

fn main(index : i32) {
  let lid = i32(localIndex);
  let wg = workgroupIndex();
  let h = wg / rpbVolume();
  let entry = wg % rpbVolume();
  let idx = vec3<i32>(entry / (uniforms.rpbDims.y * uniforms.rpbDims.z), (entry / uniforms.rpbDims.z) % uniforms.rpbDims.y,
                      entry % uniforms.rpbDims.z);
  let L = uniforms.lengths;
  let d = uniforms.dilation.xyz;
  var sum = 0.0;
  if (wg < uniforms.workgroupCount) {
    // Every query (batch, i0, i1, i2) in turn, the threads taking every THREADS-th: the last axis fastest, so
    // that most candidates are skipped after one window test.
    let total = uniforms.batch * L.x * L.y * L.z;
    for (var f = lid; f < total; f += ${THREADS}) {
      let i2 = f % L.z;
      let t2 = axisSlot(2, i2, idx.z);
      if (t2 < 0) {
        continue;
      }
      let r1 = f / L.z;
      let i1 = r1 % L.y;
      let t1 = axisSlot(1, i1, idx.y);
      if (t1 < 0) {
        continue;
      }
      let r0 = r1 / L.y;
      let i0 = r0 % L.x;
      let t0 = axisSlot(0, i0, idx.x);
      if (t0 < 0) {
        continue;
      }
      let b = r0 / L.x;
      let i = vec3<i32>(i0, i1, i2);
      let j = i + d * (idx - uniforms.kernel.xyz + vec3<i32>(1));
      let slot = (t0 * uniforms.kernel.y + t1) * uniforms.kernel.z + t2;
      sum += term(b, h, entry, tokenOf(i), tokenOf(j), slot);
    }
  }
  partial[lid] = sum;
  workgroupBarrier();
  for (var width = ${THREADS / 2}; width > 0; width = width / 2) {
    if (lid < width) {
      partial[lid] += partial[lid + width];
    }
    workgroupBarrier();
  }
  if (lid == 0 && wg < uniforms.workgroupCount) {
    result[wg] = partial[0];
  }
}
`;
  }
}

/** Threads of RpbGradTileProgram, and the entries it sums per round (one per thread). */
const TILE_THREADS = 64;
/** Floats the partial sums of RpbGradTileProgram may take at most (256 MB), within the device's binding limit. */
const MAX_PARTIAL_FLOATS = 1 << 26;

/** How RpbGradTileProgram cuts a call: `perThread` queries per thread, `blocks` blocks of queries per batch and head. */
export interface RpbTilePlan {
  perThread: number;
  blocks: number;
  /** Workgroups (batch x heads x blocks), each writing one row of rpbVolume partial sums. */
  rows: number;
  rpbVolume: number;
}

/**
 * The fewest queries per thread (a power of two, at most 64) whose partial sums (one row of rpbVolume floats per
 * block of 64 x perThread queries of a batch and head) fit in MAX_PARTIAL_FLOATS and the binding limit; null when
 * none does (RpbGradProgram then runs instead).
 */
export function planRpbTiles(batch: number, heads: number, numTokens: number, rpbVolume: number,
                             maxBindingBytes: number): RpbTilePlan | null {
  const limit = Math.min(MAX_PARTIAL_FLOATS, Math.floor(maxBindingBytes / 4));
  for (let perThread = 1; perThread <= 64; perThread *= 2) {
    const blocks = Math.ceil(numTokens / (TILE_THREADS * perThread));
    const rows = batch * heads * blocks;
    if (rows * rpbVolume <= limit) {
      return {perThread, blocks, rows, rpbVolume};
    }
  }
  return null;
}

/**
 * Gradient of the relative positional bias, first of two passes: one workgroup per block of 64 x Q consecutive
 * queries of one batch and head (Q = plan.perThread queries per thread, thread i taking queries i, i + 64, ...).
 * The block's queries use the rpb entries of a box (per axis, the union of their windows' rpb ranges); per round
 * of 64 entries of that box, every thread sums its queries' terms for each entry into a 64 x 64 table, then thread
 * e sums row e over the threads: one pair of barriers per 64 entries, no atomics, a fixed order. Each workgroup
 * writes its row of rpbVolume partial sums (0 outside its box); rpbPartialSums adds the rows of each head.
 * The terms are RpbGradProgram's (`fused`: dS recomputed; `given`: the logits' gradient), but each query's window
 * is decoded once, and a thread's query and output-gradient rows are read for every entry of its box, from cache.
 */
export class RpbGradTileProgram extends NAProgram {
  constructor(private mode: 'fused' | 'given', private perThread: number, count: number, maxPerDimension: number,
              outputSize: number) {
    super('rpb_grad_tile', `${mode}_q${perThread}`,
          mode === 'fused' ? ['query', 'key', 'value', 'dOut', 'stats', 'rpb'] : ['dLogits'], outputSize, count,
          TILE_THREADS, maxPerDimension);
  }

  getUserCode(): string {
    const T = TILE_THREADS, Q = this.perThread;
    const term = termBody(this.mode);
    return `
${GEOMETRY_WGSL}
const Q = ${Q};
var<workgroup> table : array<f32, ${T * (T + 1)}>;
var<workgroup> boxLo : array<atomic<i32>, 3>;
var<workgroup> boxHi : array<atomic<i32>, 3>;
var<workgroup> boxPlain : array<i32, 6>;
var<workgroup> wgShared : i32;

fn term(b : i32, h : i32, entry : i32, token : i32, keyToken : i32, slot : i32) -> f32 {${term}
}

// Position e (in row-major order) of the box of extent n from lo.
fn boxPosition(lo : vec3<i32>, n : vec3<i32>, e : i32) -> vec3<i32> {
  return lo + vec3<i32>(e / (n.y * n.z), (e / n.z) % n.y, e % n.z);
}

fn main(index : i32) {
  let lid = i32(localIndex);
  if (lid == 0) {
    wgShared = workgroupIndex();
  }
  let wg = workgroupUniformLoad(&wgShared);  // uniform, for the barriers below
  if (wg >= uniforms.workgroupCount) {
    return;  // the whole workgroup: past the ones the call needs
  }
  let blocks = uniforms.tiles.x;
  let block = wg % blocks;
  let b = (wg / blocks) % uniforms.batch;
  let h = wg / (blocks * uniforms.batch);
  let V = rpbVolume();
  if (lid < 3) {
    atomicStore(&boxLo[lid], 1 << 30);
    atomicStore(&boxHi[lid], -(1 << 30));
  }
  workgroupBarrier();
  // The thread's queries: their tokens (-1 past the grid) and windows, decoded once.
  var tokens : array<i32, Q>;
  var wins : array<Window3, Q>;
  for (var m = 0; m < Q; m++) {
    let token = block * ${T} * Q + m * ${T} + lid;
    tokens[m] = select(-1, token, token < uniforms.numTokens);
    if (token < uniforms.numTokens) {
      wins[m] = windowOf(token);
      for (var a = 0; a < 3; a++) {
        atomicMin(&boxLo[a], wins[m].rpbBase[a]);
        atomicMax(&boxHi[a], wins[m].rpbBase[a] + wins[m].count[a]);
      }
    }
  }
  workgroupBarrier();
  if (lid < 3) {
    boxPlain[lid] = atomicLoad(&boxLo[lid]);
    boxPlain[3 + lid] = max(atomicLoad(&boxHi[lid]) - atomicLoad(&boxLo[lid]), 0);
  }
  let lo = vec3<i32>(workgroupUniformLoad(&boxPlain[0]), workgroupUniformLoad(&boxPlain[1]),
                     workgroupUniformLoad(&boxPlain[2]));
  let n = vec3<i32>(workgroupUniformLoad(&boxPlain[3]), workgroupUniformLoad(&boxPlain[4]),
                    workgroupUniformLoad(&boxPlain[5]));
  let boxVolume = n.x * n.y * n.z;
  // Zeros for the entries outside the box (the box's own are written below, each by one thread).
  for (var e = lid; e < V; e += ${T}) {
    let idx = boxPosition(vec3<i32>(0), uniforms.rpbDims.xyz, e);
    if (any(idx < lo) || any(idx >= lo + n)) {
      result[wg * V + e] = 0.0;
    }
  }
  let d = uniforms.dilation.xyz;
  for (var base = 0; base < boxVolume; base += ${T}) {
    for (var k = 0; k < ${T}; k++) {
      let eb = base + k;
      var sum = 0.0;
      if (eb < boxVolume) {
        let idx = boxPosition(lo, n, eb);
        let entry = rpbPart(idx);
        for (var m = 0; m < Q; m++) {
          if (tokens[m] < 0) {
            continue;
          }
          let t = idx - wins[m].rpbBase;
          if (any(t < vec3<i32>(0)) || any(t >= wins[m].count)) {
            continue;
          }
          let keyToken = tokenOf(wins[m].first + t * d);
          let slot = (t.x * uniforms.kernel.y + t.y) * uniforms.kernel.z + t.z;
          sum += term(b, h, entry, tokens[m], keyToken, slot);
        }
      }
      table[k * ${T + 1} + lid] = sum;
    }
    workgroupBarrier();
    let eb = base + lid;
    if (eb < boxVolume) {
      var total = 0.0;
      for (var j = 0; j < ${T}; j++) {
        total += table[lid * ${T + 1} + j];
      }
      result[wg * V + rpbPart(boxPosition(lo, n, eb))] = total;
    }
    workgroupBarrier();
  }
}
`;
  }
}

/**
 * The rpb gradient `[heads * rpbVolume]` of a call: RpbGradTileProgram and rpbPartialSums where their
 * partial sums fit (planRpbTiles), else RpbGradProgram. `inputs`: the programs' variables for `mode`; `plan`:
 * the tiles (tests give their own; null runs RpbGradProgram).
 */
export function rpbGradient(gpu: Backend, info: NAInfo, mode: 'fused' | 'given', inputs: Array<TensorInfo | null | undefined>,
                            plan?: RpbTilePlan | null): TensorInfo {
  const limits = deviceLimits(gpu);
  const maxDim = limits.maxComputeWorkgroupsPerDimension;
  const volume = info.rpbVolume;
  const count = info.heads * volume;
  if (plan === undefined) {
    plan = planRpbTiles(info.batch, info.heads, info.numTokens, volume, limits.maxStorageBufferBindingSize);
  }
  if (plan == null) {
    return run(gpu, new RpbGradProgram(mode, count, maxDim), inputs, geometryUniforms(info, count));
  }
  const partial = run(gpu, new RpbGradTileProgram(mode, plan.perThread, plan.rows, maxDim, plan.rows * volume),
                      inputs, geometryUniforms(info, plan.rows, [plan.blocks, 1, 1]));
  const out = rpbPartialSums(gpu, info, partial, plan.blocks, 0);
  disposeAll(gpu, [partial]);
  return out;
}

/**
 * The rpb gradient `[heads * rpbVolume]` from `rows` rows of rpbVolume partial sums per batch and head, `offset`
 * floats into `partial`: row (h * batch + b) * rows + r (RpbGradTileProgram's blocks, or the dq pass's tiles after
 * dq), added per head in that order (RowSumProgram).
 */
export function rpbPartialSums(gpu: Backend, info: NAInfo, partial: TensorInfo, rows: number, offset: number):
    TensorInfo {
  return sumRows(gpu, partial, info.heads, info.rpbVolume, info.batch * rows, offset);
}

/** Floats the dq pass's rpb partial sums may take at most (512 MB), within the device's binding limit. */
const MAX_FUSED_PARTIAL_FLOATS = 1 << 27;

/**
 * The rpb entries the tiled dq pass's workgroup table holds when it sums the rpb gradient (the head's rpbVolume,
 * rounded up to 64), or 0 where it does not: the table and the traits' workgroup memory over the device's, or
 * the partial sums (`dqWorkgroups` rows of rpbVolume after dq) over MAX_FUSED_PARTIAL_FLOATS or the binding limit.
 */
export function fusedRpbSlots(info: NAInfo, dqTraits: GemmTileTraits, dqWorkgroups: number, limits: DeviceLimits):
    number {
  const volume = info.rpbVolume;
  const slots = Math.ceil(volume / 64) * 64;
  const dq = info.batch * info.numTokens * info.heads * info.headDim;
  const floats = dq + dqWorkgroups * volume;
  const fits = gemmWorkgroupBytes(dqTraits, info.headDim) + 4 * slots <= limits.maxComputeWorkgroupStorageSize &&
      dqWorkgroups * volume <= MAX_FUSED_PARTIAL_FLOATS && 4 * floats <= limits.maxStorageBufferBindingSize;
  return fits ? slots : 0;
}
