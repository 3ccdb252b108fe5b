/**
 * Tile configuration of the tiled NA programs, in one place so it is easy to tune: every value here is baked
 * into the WGSL and part of the shaderKey. Two families: `TileTraits` (below) for the backward's extra-token
 * dk/dv pass, `GemmTileTraits` (further down) for the register-blocked fused forward and backward dq and dk/dv.
 *
 * TileTraits: a workgroup of 256 threads is a 16 x 16 grid. In the score phase thread (tr, tc) computes a block of
 * `rowsPerThread x colsPerThread` scores of the `tileRows x chunkCols` score tile (a register-tiled mini-GEMM
 * over the head dim, `dimChunk` dims at a time through workgroup memory); in the accumulation phase it owns
 * the same rows and the output columns `tc + 16 m`, reading the value (or key, query, dO) chunk `valueChunk`
 * columns at a time.
 */
import type {NAInfo} from '../../core/na_info';

/**
 * The order of a tiled program's workgroups. `'heads'`: the inner index (head, or kv head for key tiles) fastest,
 * then the tile, then the batch. `'tiles'`: the heads that share a kv head fastest (none for key tiles, whose
 * inner index is the kv head), then the tile, then the kv head, then the batch. Workgroups running at the same
 * time then read the keys and values of a few kv heads over a wide stretch of tiles, instead of every head's
 * over a few tiles: a smaller working set for the GPU's L2 cache where a head's keys and values are large.
 */
export type WorkgroupOrder = 'heads' | 'tiles';

/** The order of every tiled program's workgroups where its traits do not say (GemmTileTraits.order). */
export const DEFAULT_ORDER: WorkgroupOrder = 'heads';

export interface TileTraits {
  /** Query tile (forward, dq) or key tile (dk/dv) per padded axis, in dilation-group coordinates. */
  tile: [number, number, number];
  /** Columns of the score tile per step: keys per chunk (forward, dq) or queries per chunk (dk/dv). */
  chunkCols: number;
  /** Head dims per step of the score mini-GEMM. */
  dimChunk: number;
  /** Output columns per step of the accumulation (a multiple of 16). */
  valueChunk: number;
}

export const THREADS = 256;
export const GRID = 16;

export function tileRows(t: TileTraits): number {
  return t.tile[0] * t.tile[1] * t.tile[2];
}

export function traitsKey(t: TileTraits): string {
  return `t${t.tile.join('x')}_c${t.chunkCols}_dc${t.dimChunk}_vc${t.valueChunk}`;
}

/** Bytes of workgroup memory a tiled program with these traits declares (see tiled_wgsl.ts). */
export function workgroupBytes(t: TileTraits): number {
  const rows = tileRows(t), cols = t.chunkCols;
  const stage = Math.max((rows + cols) * t.dimChunk, Math.max(rows, cols) * t.valueChunk);
  const scores = 2 * rows * (cols + 1);
  return 4 * (stage + scores + 4 * rows + 16);
}

/** Query (or key) tile shapes per rank, with 64 rows: axis 0 outermost, like the token layout. */
const TILES: Record<number, [number, number, number]> = {1: [1, 1, 64], 2: [1, 8, 8], 3: [2, 4, 8]};
const SMALL_TILES: Record<number, [number, number, number]> = {1: [1, 1, 32], 2: [1, 4, 8], 3: [2, 4, 4]};

/**
 * Traits for a call: 64-row tiles and 32-column chunks where the device's workgroup memory allows, else
 * 32-row tiles and 16-column chunks (WebGPU's default 16 KiB).
 */
export function chooseTraits(info: NAInfo, maxWorkgroupBytes: number): TileTraits {
  const big: TileTraits = {tile: TILES[info.naDim], chunkCols: 32, dimChunk: 16, valueChunk: 32};
  if (workgroupBytes(big) <= maxWorkgroupBytes) {
    return big;
  }
  const small: TileTraits = {tile: SMALL_TILES[info.naDim], chunkCols: 16, dimChunk: 16, valueChunk: 16};
  if (workgroupBytes(small) <= maxWorkgroupBytes) {
    return small;
  }
  throw new Error(`tfjs-natten webgpu: the tiled NA programs need ${
      workgroupBytes(small)} bytes of workgroup memory, over the device's maxComputeWorkgroupStorageSize of ${
      maxWorkgroupBytes}`);
}

// ---------------------------------------------------------------------------------------------------------
// The register-blocked tiles of the tiled fused forward and the backward dq pass (na_forward_webgpu.ts,
// na_backward_query_webgpu.ts, na_backward_kv_webgpu.ts with keys as rows, tiled_wgsl.ts). The extra tokens' dk/dv
// pass still uses the traits above.
//
// A workgroup is a `gr x gc` grid of threads. It owns `rows = gr * tm` tile rows (queries) and walks the
// columns (keys) in chunks of `cols = gc * tn`. Thread (tr, tc) computes the `tm x tn` block of scores of rows
// `tr * tm + i` and chunk columns `tc * tn + j` (a register-tiled mini-GEMM over the head dim, `dimChunk` dims
// at a time through workgroup memory), then accumulates its rows' output columns `vc * 4 * gc + 4 * tc .. + 3`
// (one vec4 per row and column step of `4 * gc` columns). NATTEN_WEBGPU_TILE (JSON) overrides the choice.
// ---------------------------------------------------------------------------------------------------------

export interface GemmTileTraits {
  /** Tile rows per padded axis, in dilation-group coordinates (their product is gr * tm). */
  tile: [number, number, number];
  /** Thread grid: rows and columns. */
  gr: number;
  gc: number;
  /** Score block per thread: rows and columns (tn a multiple of 4). */
  tm: number;
  tn: number;
  /** Head dims per staging step of the score GEMMs (a multiple of 4). */
  dimChunk: number;
  /**
   * The fused forward stages the tile's query rows (every head dim) once, into workgroup memory of their own,
   * instead of once per key chunk: per chunk it then stages only the keys and values. The backward dq pass
   * ignores it.
   */
  resident?: boolean;
  /**
   * With `resident`: the forward stages keys and values through registers, loaded one step ahead (during the
   * previous step's GEMM), keys into two alternating buffers: one barrier per key step instead of two.
   */
  prefetch?: boolean;
  /**
   * With `prefetch`: the next chunk's tables are decoded at the start of this one (two sets, alternating) and its
   * first key step is loaded during this chunk's last accumulation step, so no chunk starts with a wait on them.
   */
  ahead?: boolean;
  /**
   * The inner loops of the GEMMs (over the staged dims of a score step, `'score'`; over the chunk's keys of an
   * accumulation step, `'acc'`; both, `true`) start at a uniform whose value (0) the driver cannot see when it
   * compiles, so it cannot unroll them completely. On the H200 the 3-D pick runs 5-8% faster with the score loop
   * rolled (bench/RESULTS.md); its register count is unchanged (scripts/gpu/shader_stats.py).
   */
  rolled?: boolean | 'score' | 'acc';
  /**
   * Thread columns per warp (default min(gc, 32): a warp is 32 / gc whole rows of the grid). With lanes < gc a
   * warp is a `32 / lanes` x `lanes` block of the grid instead: its GEMM loads of keys and values then touch
   * `lanes` distinct columns (one 128-byte wavefront of workgroup memory for 8) instead of gc, for more rows
   * per warp (fewer chunks skipped). Only a matter of speed, as the warps' 32 threads are.
   */
  lanes?: number;
  /** The workgroups' order (WorkgroupOrder; default DEFAULT_ORDER). Only a matter of speed. */
  order?: WorkgroupOrder;
  /**
   * Workgroup-memory layouts that keep the GEMM's loads off each other's banks (default `'line'`): the staged
   * columns of a score step (keys, or queries for key tiles) whose dim step is shorter than 128 bytes
   * (dimChunk < 32) packed by 128-byte lines and swizzled together (lineRows, TiledWgsl.colSlot), and the
   * per-column tables swizzled by runs of tn (posSlot in TiledWgsl.header). `'row'`: the layouts before (each
   * staged row swizzled within its own slots, a 2-way bank conflict at 16 dims per step; tables in plain
   * order, 4-way). Only a matter of speed.
   */
  swizzle?: 'line' | 'row';
}

/**
 * Staged column rows per 128-byte line under the `'line'` layout (GemmTileTraits.swizzle): 8 / (dimChunk / 4),
 * where a dim step of a row is shorter than a line, it divides the line, and a thread's columns (tn) are whole
 * lines; else 0 (each row in its own slots).
 */
export function lineRows(t: GemmTileTraits): number {
  const dc4 = t.dimChunk / 4;
  const rows = 8 / dc4;
  return t.swizzle !== 'row' && dc4 < 8 && Number.isInteger(rows) && t.tn % rows === 0 ? rows : 0;
}

/**
 * The fused backward's workgroup order per rank, for its dq and dk/dv passes (where their traits do not say).
 * 3-D tiles first: on the H200 (bench/RESULTS.md), 3d-video's dq and dk/dv passes took 258.2 and 335.2 ms against
 * 302.0 and 377.7 heads first (the same [2,4,8] tiles, one call), as the forward gained; 2d-large and 1d-long read
 * the same either way, so they keep the default (2d-nat's backward runs the row programs, which have no order).
 */
const BACKWARD_ORDER: Record<number, WorkgroupOrder> = {1: DEFAULT_ORDER, 2: DEFAULT_ORDER, 3: 'tiles'};

/** The fused backward's workgroup order for a call of rank `naDim` (BACKWARD_ORDER). */
export function backwardOrder(naDim: number): WorkgroupOrder {
  return BACKWARD_ORDER[naDim] ?? DEFAULT_ORDER;
}

/** The workgroup order of these traits. */
export function workgroupOrder(t: GemmTileTraits): WorkgroupOrder {
  return t.order ?? DEFAULT_ORDER;
}

/** Thread columns per warp of these traits (see GemmTileTraits.lanes). */
export function warpLanes(t: GemmTileTraits): number {
  return t.lanes ?? Math.min(t.gc, 32);
}

/** The head dims a tiled program bakes: rounded up to its staging steps (exact dims are uniforms). */
export interface TiledDims {
  /**
   * Head dims rounded up to a multiple of both dimChunk (a staging step of the score GEMMs) and 4 * gc (the
   * columns of one accumulation step): dq accumulates into query-sized rows.
   */
  dk: number;
  dv: number;
  /** Both exact head dims are multiples of 4: rows are read as vec4. */
  vec4: boolean;
}

export function gemmRows(t: GemmTileTraits): number {
  return t.tile[0] * t.tile[1] * t.tile[2];
}

export function gemmCols(t: GemmTileTraits): number {
  return t.gc * t.tn;
}

export function threads(t: GemmTileTraits): number {
  return t.gr * t.gc;
}

function lcm(a: number, b: number): number {
  const gcd = (x: number, y: number): number => (y === 0 ? x : gcd(y, x % y));
  return a / gcd(a, b) * b;
}

export function tiledDims(t: GemmTileTraits, headDim: number, headDimV: number): TiledDims {
  const m = lcm(t.dimChunk, 4 * t.gc);
  const up = (d: number) => Math.max(m, Math.ceil(d / m) * m);
  return {dk: up(headDim), dv: up(headDimV),
          vec4: headDim % 4 === 0 && headDimV % 4 === 0};
}

export function gemmTraitsKey(t: GemmTileTraits, d: TiledDims): string {
  return `t${t.tile.join('x')}_g${t.gr}x${t.gc}_b${t.tm}x${t.tn}_dc${t.dimChunk}_d${d.dk}_${d.dv}${d.vec4 ? 'v4' : 's'}${
      t.resident === true ? '_qr' : ''}${t.prefetch === true ? '_pf' : ''}${t.ahead === true ? '_ah' : ''}${
      t.rolled === true ? '_rl' : t.rolled === 'score' ? '_rls' : t.rolled === 'acc' ? '_rla' : ''}${
      warpLanes(t) !== Math.min(t.gc, 32) ? `_ln${warpLanes(t)}` : ''}_o${workgroupOrder(t)}${
      t.swizzle === 'row' ? '_sr' : ''}`;
}

/**
 * Vec4 slots of the staging area of a tiled program: the tile rows (unless resident) and the chunk columns of
 * one dim step, or the chunk's rows of one accumulation step.
 */
export function stageSlots(t: GemmTileTraits, resident: boolean, prefetch = false): number {
  const rows = gemmRows(t), cols = gemmCols(t);
  return Math.max((resident ? (prefetch ? 2 : 1) * cols : rows + cols) * (t.dimChunk / 4), cols * t.gc);
}

/**
 * Bytes of workgroup memory the tiled programs with these traits declare (see tiled_wgsl.ts), the larger of the
 * fused forward and the backward dq: the staging area, the weights tile (rows x cols, one vec4 of padding per
 * row), the row reductions, the chunk tables, and for `resident` traits the forward's query rows (`headDim`
 * rounded up as tiledDims does).
 */
export function gemmWorkgroupBytes(t: GemmTileTraits, headDim = 1): number {
  const rows = gemmRows(t), cols = gemmCols(t);
  const probs = rows * (cols / 4 + 1);
  // Vec4 slots (staging, query rows, weights, colPos per table set) and 4-byte words (row reductions, rowRow,
  // colRow per table set, and 48 for the scalars, the chunk bounds and each variable's alignment).
  const bytes = (stage: number, tableSets: number) =>
      16 * (stage + probs + tableSets * cols) + 4 * (rows * t.gc + rows + tableSets * cols + 48);
  const plain = bytes(stageSlots(t, false), 1);
  if (t.resident !== true) {
    return plain;
  }
  return Math.max(plain, bytes(stageSlots(t, true, t.prefetch === true) + rows * tiledDims(t, headDim, headDim).dk / 4,
                               t.ahead === true ? 2 : 1));
}

function checkGemmTraits(t: GemmTileTraits): void {
  // tn <= gr: one thread per chunk column decodes it (gc * tn columns, gr * gc threads).
  const ok = gemmRows(t) === t.gr * t.tm && t.tn % 4 === 0 && t.tn <= t.gr && t.dimChunk % 4 === 0 &&
             (32 % t.gc === 0 || t.gc % 32 === 0) && t.tile.length === 3 &&
             (t.resident === undefined || typeof t.resident === 'boolean') &&
             (t.prefetch === undefined || (typeof t.prefetch === 'boolean' && (!t.prefetch || t.resident === true))) &&
             (t.ahead === undefined || (typeof t.ahead === 'boolean' && (!t.ahead || t.prefetch === true))) &&
             (t.rolled === undefined || typeof t.rolled === 'boolean' || t.rolled === 'score' || t.rolled === 'acc') &&
             t.tile.every(x => Number.isInteger(x) && x >= 1) &&
             (t.order === undefined || t.order === 'heads' || t.order === 'tiles') &&
             (t.swizzle === undefined || t.swizzle === 'line' || t.swizzle === 'row') &&
             (t.lanes === undefined || (Number.isInteger(t.lanes) && t.lanes >= 1 && 32 % t.lanes === 0 &&
                                        t.gc % t.lanes === 0 && t.gr % (32 / t.lanes) === 0));
  if (!ok) {
    throw new Error(`tfjs-natten webgpu: inconsistent tile traits ${JSON.stringify(t)}: tile volume must be gr*tm, ` +
                    'tn and dimChunk multiples of 4, tn at most gr, gc a divisor or multiple of 32, prefetch only with ' +
                    'resident, ahead only with prefetch, rolled true, false, "score" or "acc", lanes a divisor of 32 and of gc ' +
                    'with 32 / lanes dividing gr, order "heads" or "tiles", swizzle "line" or "row"');
  }
}

/** Candidates per rank, best first: the first whose workgroup memory fits the device is taken. */
const GEMM_CANDIDATES: Record<number, GemmTileTraits[]> = {
  1: [
    {tile: [1, 1, 64], gr: 16, gc: 16, tm: 4, tn: 4, dimChunk: 32},
    {tile: [1, 1, 32], gr: 16, gc: 8, tm: 2, tn: 4, dimChunk: 32},
  ],
  2: [
    {tile: [1, 8, 8], gr: 16, gc: 16, tm: 4, tn: 4, dimChunk: 32},
    {tile: [1, 4, 8], gr: 16, gc: 8, tm: 2, tn: 4, dimChunk: 32},
  ],
  3: [
    {tile: [2, 4, 8], gr: 16, gc: 16, tm: 4, tn: 4, dimChunk: 32},
    {tile: [2, 4, 4], gr: 16, gc: 8, tm: 2, tn: 4, dimChunk: 32},
  ],
};

/**
 * The traits on a software adapter (isSoftwareAdapter: lavapipe, SwiftShader; the GPU is the CPU and LLVM compiles
 * every program), for the fused forward and both backward passes: 8 x 8 threads of 2 x 4, 8 head dims per step,
 * both GEMM loops rolled. The GPU picks and the rank's candidates unroll blocks of up to 4 x 4 over 32 dims per
 * step, which lavapipe's LLVM takes minutes to compile. On lavapipe (2-core AMD EPYC, Zen 2; bench/RESULTS.md,
 * session of 2026-11-30 21:16 UTC): the 1-D tiled test case's forward and backward compiled and ran in 42 s
 * against 143 s (shader cache off), and the `3d` bench preset ran faster too (forward 135 ms against 145,
 * forward+backward 586 against 676). One row and four columns per thread with 4 dims per step compiled in 34 s
 * but ran 1.7 times slower.
 */
export const SOFTWARE_TRAITS: Record<number, GemmTileTraits> = {
  1: {tile: [1, 1, 16], gr: 8, gc: 8, tm: 2, tn: 4, dimChunk: 8, rolled: true},
  2: {tile: [1, 4, 4], gr: 8, gc: 8, tm: 2, tn: 4, dimChunk: 8, rolled: true},
  3: {tile: [2, 2, 4], gr: 8, gc: 8, tm: 2, tn: 4, dimChunk: 8, rolled: true},
};

/**
 * The fused forward's own picks, measured on the H200 (bench/RESULTS.md: bench/webgpu_tiles.ts per preset), tried
 * before the rank's candidates for calls of that rank whose head dims are at most `maxHeadDim`. The backward has its
 * own (BACKWARD_PICKS below; its passes ignore `resident` and `prefetch`).
 */
interface TilePick {
  naDim: number;
  /** The head dims (the larger of q's and v's) the pick is for: minHeadDim (default 1) to maxHeadDim. */
  minHeadDim?: number;
  maxHeadDim: number;
  traits: GemmTileTraits;
}

const FORWARD_PICKS: TilePick[] = [
  // 1d-long (head dim 64, kernel 1023): 19.86 ms against 22.02 for the rank's first candidate (third round,
  // 2026-11-28 23:50 UTC, with the warmed timing). Not below head dim 33: gc = 16 rounds the head dim up to 64.
  {naDim: 1, minHeadDim: 33, maxHeadDim: 64,
   traits: {tile: [1, 1, 32], gr: 8, gc: 16, tm: 4, tn: 4, dimChunk: 32, resident: true, prefetch: true}},
  // 2d-nat (head dim 32, kernel 7x7): 0.391 ms (third round, warmed timing) against 0.541 for the second round's
  // pick ([1,4,4] 8x8 of 2x4, resident), 0.674 (row) and 0.414 for [1,8,4] 16x8 of 2x4 resident.
  {naDim: 2, maxHeadDim: 32, traits: {tile: [1, 4, 4], gr: 16, gc: 4, tm: 1, tn: 4, dimChunk: 32, resident: true}},
  // 2d-large (head dim 64, kernel 13x13), 2026-11-29 (bench/webgpu_tiles.ts --extra-only --rounds, three H200 runs):
  // [1,4,4] 8x8 threads of 2x4, 16 head dims per step: 1.661-1.730 ms against 1.750-1.876 for the pick before
  // ([1,4,8] 16x8 of 2x4, 32 dims per step; 1.734-1.740 in earlier runs). A warp's 8 queries are a 2x4 block
  // whose keys (14x16) are one run of the 16x16 box; 32 dims per step read 1.91 (the same 174 registers, but
  // 15904 bytes of workgroup memory, so four workgroups per SM: see below). Its 11808 bytes of workgroup memory
  // sit just under the H200's limit for five workgroups per SM (12048 bytes ran as fast, 12448 29% slower:
  // bench/RESULTS.md, 2026-12-01): a change that adds workgroup memory to this shape loses a fifth of its warps.
  // Since 2026-12-01 with the bank-conflict-free layouts (swizzle 'line'): 1.538-1.540 ms against 1.640-1.643 with the
  // layouts before ('row'), four rounds in one H200 call.
  {naDim: 2, maxHeadDim: 64,
   traits: {tile: [1, 4, 4], gr: 8, gc: 8, tm: 2, tn: 4, dimChunk: 16, resident: true, prefetch: true}},
  // 3d-video (head dim 128, kernel 8x16x16), the same runs: [2,4,4] 16x16 threads of 2x4: 166.7-177.3 ms against
  // 182.2-196.9 for the pick before (8x16 of 4x4; 172.3 and 172.7 in earlier runs, against 208.5). A warp holds 4
  // queries (a line of the tile) instead of 8: fewer of the box's key chunks reach it (the likely reason).
  // Since 2026-11-29 with the score GEMM's dim loop rolled: 165.5-168.6 ms against 173.2-180.4 for the same tile
  // unrolled, in six rounds of bench/webgpu_tiles.ts over three H200 calls (bench/RESULTS.md).
  // Since 2026-11-30 with its workgroups tiles first (order 'tiles'): 147.4-162.2 ms in seven rounds over three H200
  // calls, against 165.6-175.9 heads first in four rounds of two of them. By my count, heads first the workgroups
  // running at once read every head's keys and values over a few tiles (about 150 MB, over the 50 MB L2), tiles
  // first one head's over many (about 30 MB). 2d-large read 2-6% slower tiles first (its working set fits the L2
  // either way), 1d-long and 2d-nat as heads first: their picks keep the default.
  {naDim: 3, maxHeadDim: 128,
   traits: {tile: [2, 4, 4], gr: 16, gc: 16, tm: 2, tn: 4, dimChunk: 32, resident: true, prefetch: true,
            rolled: 'score', order: 'tiles'}},
];

/**
 * The fused backward's own picks (its dq and dk/dv passes take the same traits), tried before the rank's
 * candidates like FORWARD_PICKS.
 */
const BACKWARD_PICKS: TilePick[] = [
  // 2d-large (head dim 64, kernel 13x13), 2026-11-30 (bench/webgpu_tiles.ts --backward --profile, one H200 call):
  // [1,4,8] 16x8 threads of 2x4: dq 2.490 ms, dk/dv 3.408 against 2.949 and 4.063 for the rank's first candidate
  // ([1,8,8] 16x16 of 4x4, heads or tiles first alike). Measured at head dim 64 only; with 8 thread columns a head
  // dim of 32 stays 32 (16 would round it up to 64). 3d-video read it at 268.6 / 349.7 ms heads first, against
  // 258.1 / 335.2 for its rank's candidate tiles first, which 3-D keeps.
  {naDim: 2, maxHeadDim: 64, traits: {tile: [1, 4, 8], gr: 16, gc: 8, tm: 2, tn: 4, dimChunk: 32}},
];

/**
 * Traits for a call: the first candidate that fits the device's workgroup memory (the fused forward's or the
 * backward's picks first, or on a `software` adapter SOFTWARE_TRAITS, then the rank's candidates), or `override`
 * (a GemmTileTraits as JSON, from NATTEN_WEBGPU_TILE).
 * `extraBytes(t)`: workgroup memory the program declares beyond gemmWorkgroupBytes (the dk/dv pass's).
 */
export function chooseGemmTraits(info: NAInfo, maxWorkgroupBytes: number, maxThreads: number, override = '',
                                 forward = false, extraBytes: (t: GemmTileTraits) => number = () => 0,
                                 software = false): GemmTileTraits {
  const dim = Math.max(info.headDim, info.headDimV);
  const picks = software ? [SOFTWARE_TRAITS[info.naDim]] : (forward ? FORWARD_PICKS : BACKWARD_PICKS)
      .filter(p => p.naDim === info.naDim && dim >= (p.minHeadDim ?? 1) && dim <= p.maxHeadDim).map(p => p.traits);
  const candidates = override !== '' ? [JSON.parse(override) as GemmTileTraits] : [...picks, ...GEMM_CANDIDATES[info.naDim]];
  for (const t of candidates) {
    checkGemmTraits(t);
    if (gemmWorkgroupBytes(t, info.headDim) + extraBytes(t) <= maxWorkgroupBytes && threads(t) <= maxThreads) {
      return t;
    }
  }
  const t = candidates[candidates.length - 1];
  throw new Error(`tfjs-natten webgpu: the tiled NA programs need ${gemmWorkgroupBytes(t, info.headDim) + extraBytes(t)} bytes of workgroup ` +
                  `memory and ${threads(t)} threads, over the device's maxComputeWorkgroupStorageSize of ${
                      maxWorkgroupBytes} or maxComputeInvocationsPerWorkgroup of ${maxThreads}`);
}

/**
 * Tiles per padded axis: every dilation group gets ceil(groupLength / tile) tiles of the longest group
 * (tiles past a shorter group's end are empty and return at once).
 */
export function queryTiles(info: NAInfo, t: {tile: [number, number, number]}): number[] {
  return [0, 1, 2].map(a => Math.ceil(Math.ceil(info.L3[a] / info.d3[a]) / t.tile[a]) * info.d3[a]);
}
