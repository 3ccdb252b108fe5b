/**
 * Fused NA backward, key-tiled pass: dk and dv. A workgroup takes a tile of keys (consecutive in-group
 * positions of one dilation group per axis) of one key/value head and walks, for each query head of its
 * GQA group, the box of queries whose windows can contain them: per axis the inverse neighborhood of the
 * tile's first and last key (getInverseWindowStart/End, contiguous because windows move monotonically).
 * Per query chunk it recomputes `p = exp(s - lse)` and `dS = p (dO . v - delta)` transposed (keys as rows),
 * and accumulates `dv += p^T dO` and `dk += scale dS^T q` in registers: no atomics, no tokens x K storage. A key
 * row whose part of dk or dv comes out non-finite is redone over the queries that see it (exactRows).
 *
 * With `extra` the rows are the extra tokens instead, and the queries every token of the batch (unmasked).
 * Output packed in one buffer: `[dk (rows*headsKv*headDim) | dv (rows*headsKv*headDimV)]`, rows = batch*tokens
 * (or batch*nExtra).
 */
import {dimClass, GEOMETRY_WGSL, NAProgram} from './program_util';
import {accumulateWgsl, queryTileConstants, scoreGemmWgsl} from './query_tile_wgsl';
import {groupOf, NON_FINITE_WGSL, TILE_GRID_WGSL} from './tiled_wgsl';
import {DEFAULT_ORDER, GRID, TileTraits, traitsKey} from './tile_traits';

export class NABackwardKeyProgram extends NAProgram {
  constructor(private traits: TileTraits, private headDim: number, private headDimV: number,
              private hasRpb: boolean, private extra: boolean, outputSize: number, workgroupCount: number,
              maxPerDimension: number) {
    super('backward_dkdv',
          `${traitsKey(traits)}_d${dimClass(headDim)}_${dimClass(headDimV)}_${hasRpb ? 'rpb' : ''}_${extra ? 'extra' : ''}`,
          extra ? ['query', 'dOut', 'stats', 'extras'] :
                  ['query', 'key', 'value', 'dOut', 'stats', ...(hasRpb ? ['rpb'] : [])],
          outputSize, workgroupCount, GRID * GRID, maxPerDimension);
  }

  private tileCode(): string {
    if (this.extra) {
      return `
// Rows: extra tokens rowBase + r; columns: every token of the batch, for each query head of the group.
fn makeKeyTile(wg : i32) -> KeyTile {
  var t : KeyTile;
  t.hk = wg % uniforms.headsKv;
  let rest = wg / uniforms.headsKv;
  let perBatch = (uniforms.nExtra + TQ - 1) / TQ;
  t.rowBase = (rest % perBatch) * TQ;
  t.b = rest / perBatch;
  t.boxVol = uniforms.numTokens;
  t.boxChunks = (t.boxVol + TK - 1) / TK;
  t.chunks = t.boxChunks * uniforms.headsPerKv;
  if (wg >= uniforms.workgroupCount) {
    t.chunks = 0;
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
    return `${TILE_GRID_WGSL}
// Rows: keys of the tile (in-group positions j0 + offset per axis); columns: the queries of the inverse box.
fn makeKeyTile(wg : i32) -> KeyTile {
  var t : KeyTile;
  let grid = tileGrid(wg, uniforms.headsKv, ${groupOf(this.traits.order ?? DEFAULT_ORDER, true)}, tileShape());
  t.hk = grid.inner;
  t.b = grid.b;
  t.g = grid.g;
  t.j0 = grid.first;
  t.glen = grid.glen;
  t.boxVol = 1;
  for (var a = 0; a < 3; a++) {
    let last = min(t.j0[a] + tileShape()[a], t.glen[a]) - 1;
    let k = uniforms.kernel[a];
    let s = uniforms.stride[a];
    let c = axisCausal(a);
    t.boxStart[a] = getInverseWindowStart(t.j0[a], k, s, t.glen[a], c);
    t.boxLen[a] = max(getInverseWindowEnd(last, k, s, t.glen[a], c) - t.boxStart[a], 0);
    t.boxVol *= t.boxLen[a];
  }
  t.boxChunks = (t.boxVol + TK - 1) / TK;
  t.chunks = t.boxChunks * uniforms.headsPerKv;
  if (grid.empty) {
    t.chunks = 0;
  }
  return t;
}
fn tileShape() -> vec3<i32> {
  return vec3<i32>(T0, T1, T2);
}
fn keyHat(t : KeyTile, r : i32) -> vec3<i32> {
  return t.j0 + vec3<i32>(r / (T1 * T2), (r / T2) % T1, r % T2);
}
fn keyRow(t : KeyTile, r : i32) -> i32 {
  let hat = keyHat(t, r);
  if (any(hat >= t.glen)) {
    return -1;
  }
  return (t.b * uniforms.numTokens + tokenOf(t.g + uniforms.dilation.xyz * hat)) * uniforms.headsKv + t.hk;
}
fn queryHat(t : KeyTile, lin : i32) -> vec3<i32> {
  let bl = t.boxLen;
  return t.boxStart + vec3<i32>(lin / (bl.y * bl.z), (lin / bl.z) % bl.y, lin % bl.z);
}
fn queryToken(t : KeyTile, c : i32, j : i32) -> i32 {
  let lin = (c % t.boxChunks) * TK + j;
  if (lin >= t.boxVol) {
    return -1;
  }
  return tokenOf(t.g + uniforms.dilation.xyz * queryHat(t, lin));
}
fn visible(t : KeyTile, r : i32, w : QueryWindow) -> bool {
  let hat = keyHat(t, r);
  return w.token >= 0 && all(hat < t.glen) && all(hat >= w.start) && all(hat < w.end);
}
fn loadKeyRow(t : KeyTile, r : i32, dd : i32) -> f32 {
  let row = keyRow(t, r);
  return select(0.0, key[max(row, 0) * uniforms.headDim + dd], row >= 0 && dd < uniforms.headDim);
}
fn loadValueRow(t : KeyTile, r : i32, dd : i32) -> f32 {
  let row = keyRow(t, r);
  return select(0.0, value[max(row, 0) * uniforms.headDimV + dd], row >= 0 && dd < uniforms.headDimV);
}
`;
  }

  /**
   * Statements (key tiles, after the chunk loop): a key row whose part of dk or dv came out non-finite is redone
   * over the queries that see it alone. The tiles multiply every query of a chunk, masked ones by an exact
   * zero, so an Inf or NaN in the query or output gradient of a query that does not see the key would enter its
   * sums as 0 * Inf = NaN; the spec's arithmetic runs over the windows only. Rare, and per thread.
   */
  private exactRows(bias: string): string {
    return `
  for (var i = 0; i < RQ; i++) {
    let r = tr * RQ + i;
    var bad = false;
    for (var e = 0; e < NKC * VPT; e++) {
      bad = bad || nonFinite(accK[i * NKC * VPT + e]);
    }
    for (var e = 0; e < NVC * VPT; e++) {
      bad = bad || nonFinite(accV[i * NVC * VPT + e]);
    }
    if (!bad || keyRow(t, r) < 0) {
      continue;
    }
    for (var e = 0; e < NKC * VPT; e++) {
      accK[i * NKC * VPT + e] = 0.0;
    }
    for (var e = 0; e < NVC * VPT; e++) {
      accV[i * NVC * VPT + e] = 0.0;
    }
    // A NaN sum stays NaN: the walk stops once every one of the row's sums in this thread is.
    var done = false;
    for (var c = 0; c < chunks && !done; c++) {
      let h = headOf(t, c);
      for (var j = 0; j < TK && !done; j++) {
        let w = queryWindow(t, c, j);
        if (!visible(t, r, w)) {
          continue;
        }
        var s = 0.0;
        for (var d = 0; d < uniforms.headDim; d++) {
          s = fma(loadKeyRow(t, r, d), loadQueryCol(t, c, j, d), s);
        }
        s *= uniforms.scale;
        ${bias}
        let p = exp(s - w.lse);
        var dp = 0.0;
        for (var d = 0; d < uniforms.headDimV; d++) {
          dp = fma(loadValueRow(t, r, d), loadDOutCol(t, c, j, d), dp);
        }
        let ds = p * (dp - w.delta);
        for (var kc = 0; kc < NKC; kc++) {
          for (var m = 0; m < VPT; m++) {
            let at = (i * NKC + kc) * VPT + m;
            accK[at] = fma(ds, loadQueryCol(t, c, j, kc * VC + tc + ${GRID} * m), accK[at]);
          }
        }
        for (var vc = 0; vc < NVC; vc++) {
          for (var m = 0; m < VPT; m++) {
            let at = (i * NVC + vc) * VPT + m;
            accV[at] = fma(p, loadDOutCol(t, c, j, vc * VC + tc + ${GRID} * m), accV[at]);
          }
        }
        done = true;
        for (var e = 0; e < NKC * VPT; e++) {
          done = done && isNanBits(accK[i * NKC * VPT + e]);
        }
        for (var e = 0; e < NVC * VPT; e++) {
          done = done && isNanBits(accV[i * NVC * VPT + e]);
        }
      }
    }
  }`;
  }

  getUserCode(): string {
    const bias = this.hasRpb && !this.extra ?
        's += rpb[rpbOffset(h, keyHat(t, r) - w.iHat + uniforms.kernel.xyz - vec3<i32>(1))];' :
        '';
    const windowOf = this.extra ? '' : `
    let lin = (c % t.boxChunks) * TK + j;
    w.iHat = queryHat(t, min(lin, t.boxVol - 1));
    for (var a = 0; a < 3; a++) {
      let k = uniforms.kernel[a];
      let cz = axisCausal(a);
      w.start[a] = getWindowStart(w.iHat[a], k, uniforms.stride[a], t.glen[a], cz);
      w.end[a] = getWindowEnd(w.iHat[a], w.start[a], k, t.glen[a], cz);
    }`;
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
  g : vec3<i32>,
  j0 : vec3<i32>,
  glen : vec3<i32>,
  boxStart : vec3<i32>,
  boxLen : vec3<i32>,
  boxVol : i32,
  boxChunks : i32,
  chunks : i32,
};

struct QueryWindow {
  token : i32,
  h : i32,
  lse : f32,
  delta : f32,
  iHat : vec3<i32>,
  start : vec3<i32>,
  end : vec3<i32>,
};

${this.tileCode()}
${NON_FINITE_WGSL}

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
  w.delta = stats[2 * at + 1];${windowOf}
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
  if (chunks == 0) {
    return;
  }
  var accK : array<f32, RQ * NKC * VPT>;
  var accV : array<f32, RQ * NVC * VPT>;
  for (var i = 0; i < RQ * NKC * VPT; i++) {
    accK[i] = 0.0;
  }
  for (var i = 0; i < RQ * NVC * VPT; i++) {
    accV[i] = 0.0;
  }
  for (var c = 0; c < chunks; c++) {
    var sc : array<f32, RQ * RK>;
    keyQueryScores(t, c, lid, tr, tc, &sc);
    var dp : array<f32, RQ * RK>;
    valueDOutScores(t, c, lid, tr, tc, &dp);
    let h = headOf(t, c);
    for (var jj = 0; jj < RK; jj++) {
      let j = tc * RK + jj;
      let w = queryWindow(t, c, j);
      for (var i = 0; i < RQ; i++) {
        let r = tr * RQ + i;
        var p = 0.0;
        var ds = 0.0;
        if (visible(t, r, w)) {
          var s = sc[i * RK + jj] * uniforms.scale;
          ${bias}
          p = exp(s - w.lse);
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
  }${this.extra ? '' : this.exactRows(bias)}
  let rowsTotal = uniforms.batch * ${this.extra ? 'uniforms.nExtra' : 'uniforms.numTokens'} * uniforms.headsKv;
  for (var i = 0; i < RQ; i++) {
    let row = keyRow(t, tr * RQ + i);
    if (row < 0) {
      continue;
    }
    for (var kc = 0; kc < NKC; kc++) {
      for (var m = 0; m < VPT; m++) {
        let col = kc * VC + tc + ${GRID} * m;
        if (col < uniforms.headDim) {
          result[row * uniforms.headDim + col] = accK[(i * NKC + kc) * VPT + m] * uniforms.scale;
        }
      }
    }
    for (var vc = 0; vc < NVC; vc++) {
      for (var m = 0; m < VPT; m++) {
        let col = vc * VC + tc + ${GRID} * m;
        if (col < uniforms.headDimV) {
          result[rowsTotal * uniforms.headDim + row * uniforms.headDimV + col] = accV[(i * NVC + vc) * VPT + m];
        }
      }
    }
  }
}
`;
  }
}
