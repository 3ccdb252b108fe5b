/**
 * WGSL shared by the query-tiled programs (fused forward, backward dq): the workgroup's query tile inside one
 * dilation group per axis, the box of keys its windows cover, the rows each thread owns, key decoding per
 * chunk, and the mini-GEMM that fills a score tile from two operands staged in workgroup memory.
 *
 * Tiles walk the "corrected" grid: query i = g + d * iHat per axis, tile rows at consecutive iHat of one
 * group g. Window starts and ends never decrease with iHat, so the tile's windows all lie inside one box
 * [start(first row), end(last row)) per axis, walked in chunks of `chunkCols` keys; the extra tokens follow
 * as further chunks (never masked, no bias).
 */
import {GRID, TileTraits, tileRows} from './tile_traits';

export function queryTileConstants(t: TileTraits, headDim: number, headDimV: number): string {
  // headDim/headDimV: the dim classes (multiples of 16); the exact dims are uniforms.
  const rows = tileRows(t), cols = t.chunkCols;
  return `
const T0 = ${t.tile[0]};
const T1 = ${t.tile[1]};
const T2 = ${t.tile[2]};
const TQ = ${rows};
const TK = ${cols};
const RQ = ${rows / GRID};
const RK = ${cols / GRID};
const DC = ${t.dimChunk};
const VC = ${t.valueChunk};
const VPT = ${t.valueChunk / GRID};
const NDC = ${Math.ceil(headDim / t.dimChunk)};
const NDCV = ${Math.ceil(headDimV / t.dimChunk)};
const NVC = ${Math.ceil(headDimV / t.valueChunk)};
const NKC = ${Math.ceil(headDim / t.valueChunk)};
const SROW = ${cols + 1};
const NEG = -1.0e30;
const NEG_HALF = -0.5e30;
const STAGE = ${Math.max((rows + cols) * t.dimChunk, Math.max(rows, cols) * t.valueChunk)};
`;
}

export const QUERY_TILE_WGSL = `
var<workgroup> stage : array<f32, STAGE>;
var<workgroup> scores : array<f32, TQ * SROW>;
var<workgroup> chunkCount : i32;

fn extraValuesOffset() -> i32 {
  return uniforms.batch * uniforms.nExtra * uniforms.headsKv * uniforms.headDim;
}

struct QueryTile {
  b : i32,
  h : i32,
  hk : i32,
  g : vec3<i32>,
  i0 : vec3<i32>,
  glen : vec3<i32>,
  boxStart : vec3<i32>,
  boxLen : vec3<i32>,
  boxVol : i32,
  boxChunks : i32,
  chunks : i32,
};

fn tileShape() -> vec3<i32> {
  return vec3<i32>(T0, T1, T2);
}

// Workgroup order: head fastest, then tile, then batch (neighboring workgroups share key and value rows).
fn makeQueryTile(wg : i32) -> QueryTile {
  var t : QueryTile;
  let nt = uniforms.tiles.xyz;
  t.h = wg % uniforms.heads;
  let rest = wg / uniforms.heads;
  let numTiles = nt.x * nt.y * nt.z;
  let tile = rest % numTiles;
  t.b = rest / numTiles;
  t.hk = t.h / uniforms.headsPerKv;
  let tc = vec3<i32>(tile / (nt.y * nt.z), (tile / nt.z) % nt.y, tile % nt.z);
  var empty = false;
  t.boxVol = 1;
  for (var a = 0; a < 3; a++) {
    let d = uniforms.dilation[a];
    let perGroup = nt[a] / d;
    t.g[a] = tc[a] / perGroup;
    t.i0[a] = (tc[a] % perGroup) * tileShape()[a];
    t.glen[a] = groupLengthOf(a, t.g[a]);
    if (t.i0[a] >= t.glen[a]) {
      empty = true;
    }
    let last = min(t.i0[a] + tileShape()[a], t.glen[a]) - 1;
    let k = uniforms.kernel[a];
    let s = uniforms.stride[a];
    let c = axisCausal(a);
    t.boxStart[a] = getWindowStart(t.i0[a], k, s, t.glen[a], c);
    let lastStart = getWindowStart(last, k, s, t.glen[a], c);
    t.boxLen[a] = getWindowEnd(last, lastStart, k, t.glen[a], c) - t.boxStart[a];
    t.boxVol *= t.boxLen[a];
  }
  t.boxChunks = (t.boxVol + TK - 1) / TK;
  t.chunks = t.boxChunks + (uniforms.nExtra + TK - 1) / TK;
  if (empty || wg >= uniforms.workgroupCount) {
    t.chunks = 0;
  }
  return t;
}

// The query row r of the tile: its in-group position per axis and its token (-1 when outside the group).
struct QueryRow {
  iHat : vec3<i32>,
  token : i32,
  start : vec3<i32>,
  end : vec3<i32>,
};

fn queryRow(t : QueryTile, r : i32) -> QueryRow {
  var q : QueryRow;
  q.iHat = t.i0 + vec3<i32>(r / (T1 * T2), (r / T2) % T1, r % T2);
  q.token = -1;
  if (all(q.iHat < t.glen)) {
    q.token = tokenOf(t.g + uniforms.dilation.xyz * q.iHat);
  }
  for (var a = 0; a < 3; a++) {
    let k = uniforms.kernel[a];
    let c = axisCausal(a);
    q.start[a] = getWindowStart(q.iHat[a], k, uniforms.stride[a], t.glen[a], c);
    q.end[a] = getWindowEnd(q.iHat[a], q.start[a], k, t.glen[a], c);
  }
  return q;
}

fn rowToken(t : QueryTile, r : i32) -> i32 {
  let iHat = t.i0 + vec3<i32>(r / (T1 * T2), (r / T2) % T1, r % T2);
  if (any(iHat >= t.glen)) {
    return -1;
  }
  return tokenOf(t.g + uniforms.dilation.xyz * iHat);
}

// Key column lin of the box (lin < boxVol): its in-group position per axis.
fn boxKeyHat(t : QueryTile, lin : i32) -> vec3<i32> {
  let bl = t.boxLen;
  return t.boxStart + vec3<i32>(lin / (bl.y * bl.z), (lin / bl.z) % bl.y, lin % bl.z);
}

fn keyTokenOf(t : QueryTile, hat : vec3<i32>) -> i32 {
  return tokenOf(t.g + uniforms.dilation.xyz * hat);
}

// Row offset (in rows of headsKv) of key column j of chunk c: box key token, extra token, or -1.
fn keyRowOf(t : QueryTile, c : i32, j : i32) -> i32 {
  if (c < t.boxChunks) {
    let lin = c * TK + j;
    if (lin >= t.boxVol) {
      return -1;
    }
    return (t.b * uniforms.numTokens + keyTokenOf(t, boxKeyHat(t, lin))) * uniforms.headsKv + t.hk;
  }
  let e = (c - t.boxChunks) * TK + j;
  if (e >= uniforms.nExtra) {
    return -1;
  }
  return (t.b * uniforms.nExtra + e) * uniforms.headsKv + t.hk;
}

// Whether query row q sees key column j of chunk c, and the key's in-group position (box chunks).
fn keyVisible(t : QueryTile, q : QueryRow, c : i32, j : i32) -> bool {
  if (q.token < 0) {
    return false;
  }
  if (c < t.boxChunks) {
    let lin = c * TK + j;
    if (lin >= t.boxVol) {
      return false;
    }
    let hat = boxKeyHat(t, lin);
    return all(hat >= q.start) && all(hat < q.end);
  }
  return (c - t.boxChunks) * TK + j < uniforms.nExtra;
}
`;

/**
 * Stages `DC`-wide chunks of two operands in workgroup memory and sums their products into the thread's
 * RQ x RK block `acc` (zeroed first): rows from the WGSL function `rowFn(t, r, dim)`, columns from
 * `colFn(t, c, j, dim)` (both return 0 outside the tile, the chunk or the head dim), `chunks` dim chunks.
 */
export function scoreGemmWgsl(name: string, rowFn: string, colFn: string, chunks: string,
                              tileType = 'QueryTile'): string {
  return `
fn ${name}(t : ${tileType}, c : i32, lid : i32, tr : i32, tc : i32, acc : ptr<function, array<f32, RQ * RK>>) {
  for (var i = 0; i < RQ * RK; i++) {
    (*acc)[i] = 0.0;
  }
  for (var dc = 0; dc < ${chunks}; dc++) {
    for (var e = lid; e < TQ * DC; e += ${GRID * GRID}) {
      stage[(e % DC) * TQ + e / DC] = ${rowFn}(t, e / DC, dc * DC + e % DC);
    }
    for (var e = lid; e < TK * DC; e += ${GRID * GRID}) {
      stage[TQ * DC + (e % DC) * TK + e / DC] = ${colFn}(t, c, e / DC, dc * DC + e % DC);
    }
    workgroupBarrier();
    for (var dd = 0; dd < DC; dd++) {
      var a : array<f32, RQ>;
      for (var i = 0; i < RQ; i++) {
        a[i] = stage[dd * TQ + tr * RQ + i];
      }
      for (var jj = 0; jj < RK; jj++) {
        let bv = stage[TQ * DC + dd * TK + tc * RK + jj];
        for (var i = 0; i < RQ; i++) {
          (*acc)[i * RK + jj] = fma(a[i], bv, (*acc)[i * RK + jj]);
        }
      }
    }
    workgroupBarrier();
  }
}
`;
}

/**
 * Loaders of the query-tiled programs: query (and, backward, dO) rows of the tile, key and value columns of chunk c (box
 * keys, then the extra tokens). Each returns 0 outside the tile, the chunk or the head dim.
 */
export function queryTileLoaders(hasExtra: boolean, backward: boolean): string {
  // The extra tokens come packed in one buffer `extras`: keys [batch, nExtra, headsKv, headDim], then values.
  const extra = (name: string, dim: string) =>
      !hasExtra ? '0.0' : name === 'extraKeys' ? `extras[row * ${dim} + dd]` : `extras[extraValuesOffset() + row * ${dim} + dd]`;
  const rowLoader = (fn: string, name: string, dim: string) => `
fn ${fn}(t : QueryTile, r : i32, dd : i32) -> f32 {
  let tok = rowToken(t, r);
  if (tok < 0 || dd >= ${dim}) {
    return 0.0;
  }
  return ${name}[((t.b * uniforms.numTokens + tok) * uniforms.heads + t.h) * ${dim} + dd];
}`;
  const colLoader = (fn: string, name: string, extraName: string, dim: string) => `
fn ${fn}(t : QueryTile, c : i32, j : i32, dd : i32) -> f32 {
  let row = keyRowOf(t, c, j);
  if (row < 0 || dd >= ${dim}) {
    return 0.0;
  }
  if (c < t.boxChunks) {
    return ${name}[row * ${dim} + dd];
  }
  return ${extra(extraName, dim)};
}`;
  return [
    rowLoader('loadQuery', 'query', 'uniforms.headDim'),
    backward ? rowLoader('loadDOut', 'dOut', 'uniforms.headDimV') : '',
    colLoader('loadKey', 'key', 'extraKeys', 'uniforms.headDim'),
    colLoader('loadValue', 'value', 'extraValues', 'uniforms.headDimV'),
  ].join('\n');
}

/**
 * Adds a weights tile times a chunk's rows into the thread's accumulator: for each of `chunks` column chunks
 * (VC columns of the rows `loader(t, c, j, col)` staged in workgroup memory),
 * `acc[(i * chunks + n) * VPT + m] += sum_j weights[tr * RQ + i][j] * row_j[n * VC + tc + 16 m]`.
 */
export function accumulateWgsl(name: string, loader: string, chunks: string, weights: string,
                               tileType = 'QueryTile'): string {
  return `
fn ${name}(t : ${tileType}, c : i32, lid : i32, tr : i32, tc : i32, acc : ptr<function, array<f32, RQ * ${chunks} * VPT>>) {
  for (var n = 0; n < ${chunks}; n++) {
    for (var e = lid; e < TK * VC; e += ${GRID * GRID}) {
      stage[e] = ${loader}(t, c, e / VC, n * VC + e % VC);
    }
    workgroupBarrier();
    for (var j = 0; j < TK; j++) {
      var g : array<f32, RQ>;
      for (var i = 0; i < RQ; i++) {
        g[i] = ${weights}[(tr * RQ + i) * SROW + j];
      }
      for (var m = 0; m < VPT; m++) {
        let x = stage[j * VC + tc + ${GRID} * m];
        for (var i = 0; i < RQ; i++) {
          (*acc)[(i * ${chunks} + n) * VPT + m] = fma(g[i], x, (*acc)[(i * ${chunks} + n) * VPT + m]);
        }
      }
    }
    workgroupBarrier();
  }
}
`;
}
