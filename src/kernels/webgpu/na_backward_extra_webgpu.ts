/**
 * Fused NA backward, the extra tokens' dk and dv (the first tiled design: 16x16 threads, see TileTraits). A
 * workgroup takes a tile of extra tokens of one kv head (rows) and walks every token of its batch (columns, in
 * chunks), for each query head of its GQA group: every query sees every extra token, so nothing is masked. Per
 * query chunk it recomputes `p = exp(s - lse)` and `dS = p (dO . v - delta)` transposed (extra tokens as rows),
 * and accumulates `dv += p^T dO` and `dk += scale dS^T q` in registers: no atomics, no tokens x K storage.
 * Output packed in one buffer: `[dk (rows*headsKv*headDim) | dv (rows*headsKv*headDimV)]`, rows = batch*nExtra.
 * A few extra tokens make few such tiles (one per batch and kv head), far too few workgroups for a GPU, so
 * the chunks are cut into `slices` (uniforms.tiles: slices, chunks per slice): slice s writes its partial sums
 * as the s-th packed buffer of the output and RowSumProgram (copy_webgpu.ts) adds them up, in slice order.
 * The keys of the token grid have the register-blocked pass (na_backward_kv_webgpu.ts).
 */
import {dimClass, GEOMETRY_WGSL, NAProgram} from './program_util';
import {accumulateWgsl, queryTileConstants, scoreGemmWgsl} from './query_tile_wgsl';
import {GRID, TileTraits, tileRows, traitsKey} from './tile_traits';

/** Workgroups the sliced program aims for at least (a few per multiprocessor of a large GPU). */
const TARGET_WORKGROUPS = 512;
/** Chunks a slice takes at least (fewer would spend more on the partial sums than they save). */
const MIN_SLICE_CHUNKS = 4;
/** Floats the partial sums may take at most (slices x packed dk and dv). */
const MAX_PARTIAL_FLOATS = 1 << 24;

/**
 * How the extra tokens' dk/dv pass cuts its chunks: `slices` slices of `perSlice` chunks each (the last may
 * have fewer, none is empty), for `rowTiles` tiles of extra tokens, `chunks` chunks per tile (token chunks
 * times the query heads of a kv head) and `packed` floats of dk and dv.
 */
export function extraSlices(rowTiles: number, chunks: number, packed: number): {slices: number, perSlice: number} {
  let slices = Math.ceil(TARGET_WORKGROUPS / rowTiles);
  slices = Math.min(slices, Math.ceil(chunks / MIN_SLICE_CHUNKS), Math.floor(MAX_PARTIAL_FLOATS / packed));
  slices = Math.max(1, slices);
  const perSlice = Math.ceil(chunks / slices);
  return {slices: Math.ceil(chunks / perSlice), perSlice};
}

/** The extra tokens' tiles and chunks per tile of a call: extraSlices' first two arguments. */
export function extraTiles(t: TileTraits, batch: number, headsKv: number, nExtra: number, numTokens: number,
                           headsPerKv: number): {rowTiles: number, chunks: number} {
  return {rowTiles: batch * headsKv * Math.ceil(nExtra / tileRows(t)),
          chunks: Math.ceil(numTokens / t.chunkCols) * headsPerKv};
}

export class NABackwardExtraProgram extends NAProgram {
  constructor(private traits: TileTraits, private headDim: number, private headDimV: number, outputSize: number,
              workgroupCount: number, maxPerDimension: number) {
    super('backward_dkdv_extra', `${traitsKey(traits)}_d${dimClass(headDim)}_${dimClass(headDimV)}`,
          ['query', 'dOut', 'stats', 'extras'], outputSize, workgroupCount, GRID * GRID, maxPerDimension);
  }

  private tileCode(): string {
    return `
// Rows: extra tokens rowBase + r; columns: every token of the batch, for each query head of the group.
fn makeKeyTile(wg : i32) -> KeyTile {
  var t : KeyTile;
  t.slice = wg % uniforms.tiles.x;
  let tileIndex = wg / uniforms.tiles.x;
  t.hk = tileIndex % uniforms.headsKv;
  let rest = tileIndex / uniforms.headsKv;
  let perBatch = (uniforms.nExtra + TQ - 1) / TQ;
  t.rowBase = (rest % perBatch) * TQ;
  t.b = rest / perBatch;
  t.boxVol = uniforms.numTokens;
  t.boxChunks = (t.boxVol + TK - 1) / TK;
  let all = t.boxChunks * uniforms.headsPerKv;
  t.chunk0 = min(all, t.slice * uniforms.tiles.y);
  t.chunks = min(all, t.chunk0 + uniforms.tiles.y) - t.chunk0;
  if (wg >= uniforms.workgroupCount) {
    t.chunks = -1;
  }
  return t;
}
fn keyRow(t : KeyTile, r : i32) -> i32 {
  let e = t.rowBase + r;
  return select(-1, (t.b * uniforms.nExtra + e) * uniforms.headsKv + t.hk, e < uniforms.nExtra);
}
fn queryToken(t : KeyTile, c : i32, j : i32) -> i32 {
  let lin = (c % t.boxChunks) * TK + j;
  return select(-1, lin, lin < t.boxVol);
}
fn visible(t : KeyTile, r : i32, w : QueryWindow) -> bool {
  return w.token >= 0 && t.rowBase + r < uniforms.nExtra;
}
fn loadKeyRow(t : KeyTile, r : i32, dd : i32) -> f32 {
  let row = keyRow(t, r);
  return select(0.0, extras[max(row, 0) * uniforms.headDim + dd], row >= 0 && dd < uniforms.headDim);
}
fn loadValueRow(t : KeyTile, r : i32, dd : i32) -> f32 {
  let row = keyRow(t, r);
  let at = uniforms.batch * uniforms.nExtra * uniforms.headsKv * uniforms.headDim + max(row, 0) * uniforms.headDimV + dd;
  return select(0.0, extras[at], row >= 0 && dd < uniforms.headDimV);
}
`;
  }

  getUserCode(): string {
    return `
${queryTileConstants(this.traits, dimClass(this.headDim), dimClass(this.headDimV))}
${GEOMETRY_WGSL}
var<workgroup> stage : array<f32, STAGE>;
var<workgroup> scores : array<f32, TQ * SROW>;
var<workgroup> scores2 : array<f32, TQ * SROW>;
var<workgroup> chunkCount : i32;

struct KeyTile {
  b : i32,
  hk : i32,
  rowBase : i32,
  boxVol : i32,
  boxChunks : i32,
  slice : i32,
  chunk0 : i32,
  chunks : i32,
};

struct QueryWindow {
  token : i32,
  h : i32,
  lse : f32,
  delta : f32,
};

${this.tileCode()}

fn headOf(t : KeyTile, c : i32) -> i32 {
  return t.hk * uniforms.headsPerKv + c / t.boxChunks;
}
fn loadQueryCol(t : KeyTile, c : i32, j : i32, dd : i32) -> f32 {
  let tok = queryToken(t, c, j);
  let at = ((t.b * uniforms.numTokens + max(tok, 0)) * uniforms.heads + headOf(t, c)) * uniforms.headDim + dd;
  return select(0.0, query[at], tok >= 0 && dd < uniforms.headDim);
}
fn loadDOutCol(t : KeyTile, c : i32, j : i32, dd : i32) -> f32 {
  let tok = queryToken(t, c, j);
  let at = ((t.b * uniforms.numTokens + max(tok, 0)) * uniforms.heads + headOf(t, c)) * uniforms.headDimV + dd;
  return select(0.0, dOut[at], tok >= 0 && dd < uniforms.headDimV);
}
fn queryWindow(t : KeyTile, c : i32, j : i32) -> QueryWindow {
  var w : QueryWindow;
  w.token = queryToken(t, c, j);
  w.h = headOf(t, c);
  let at = (t.b * uniforms.numTokens + max(w.token, 0)) * uniforms.heads + w.h;
  w.lse = stats[2 * at];
  w.delta = stats[2 * at + 1];
  return w;
}

${scoreGemmWgsl('keyQueryScores', 'loadKeyRow', 'loadQueryCol', 'NDC', 'KeyTile')}
${scoreGemmWgsl('valueDOutScores', 'loadValueRow', 'loadDOutCol', 'NDCV', 'KeyTile')}
${accumulateWgsl('accumulateDOut', 'loadDOutCol', 'NVC', 'scores', 'KeyTile')}
${accumulateWgsl('accumulateQuery', 'loadQueryCol', 'NKC', 'scores2', 'KeyTile')}

fn main(index : i32) {
  let lid = i32(localIndex);
  let tr = lid / ${GRID};
  let tc = lid % ${GRID};
  let t = makeKeyTile(workgroupIndex());
  if (lid == 0) {
    chunkCount = t.chunks;
  }
  let chunks = workgroupUniformLoad(&chunkCount);
  if (chunks < 0) {
    return;  // past the workgroups the call needs
  }
  var accK : array<f32, RQ * NKC * VPT>;
  var accV : array<f32, RQ * NVC * VPT>;
  for (var i = 0; i < RQ * NKC * VPT; i++) {
    accK[i] = 0.0;
  }
  for (var i = 0; i < RQ * NVC * VPT; i++) {
    accV[i] = 0.0;
  }
  for (var cc = 0; cc < chunks; cc++) {
    let c = t.chunk0 + cc;
    var sc : array<f32, RQ * RK>;
    keyQueryScores(t, c, lid, tr, tc, &sc);
    var dp : array<f32, RQ * RK>;
    valueDOutScores(t, c, lid, tr, tc, &dp);
    for (var jj = 0; jj < RK; jj++) {
      let j = tc * RK + jj;
      let w = queryWindow(t, c, j);
      for (var i = 0; i < RQ; i++) {
        let r = tr * RQ + i;
        var p = 0.0;
        var ds = 0.0;
        if (visible(t, r, w)) {
          p = exp(sc[i * RK + jj] * uniforms.scale - w.lse);
          ds = p * (dp[i * RK + jj] - w.delta);
        }
        scores[r * SROW + j] = p;
        scores2[r * SROW + j] = ds;
      }
    }
    workgroupBarrier();
    // dv += p^T dO, then dk += dS^T q (scaled at the end).
    accumulateDOut(t, c, lid, tr, tc, &accV);
    accumulateQuery(t, c, lid, tr, tc, &accK);
  }
  let rowsTotal = uniforms.batch * uniforms.nExtra * uniforms.headsKv;
  let base = t.slice * rowsTotal * (uniforms.headDim + uniforms.headDimV);
  for (var i = 0; i < RQ; i++) {
    let row = keyRow(t, tr * RQ + i);
    if (row < 0) {
      continue;
    }
    for (var kc = 0; kc < NKC; kc++) {
      for (var m = 0; m < VPT; m++) {
        let col = kc * VC + tc + ${GRID} * m;
        if (col < uniforms.headDim) {
          result[base + row * uniforms.headDim + col] = accK[(i * NKC + kc) * VPT + m] * uniforms.scale;
        }
      }
    }
    for (var vc = 0; vc < NVC; vc++) {
      for (var m = 0; m < VPT; m++) {
        let col = vc * VC + tc + ${GRID} * m;
        if (col < uniforms.headDimV) {
          result[base + rowsTotal * uniforms.headDim + row * uniforms.headDimV + col] = accV[(i * NVC + vc) * VPT + m];
        }
      }
    }
  }
}
`;
  }
}
