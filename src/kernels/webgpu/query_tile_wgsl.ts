/**
 * WGSL of the extra tokens' backward pass (their dk/dv, na_backward_extra_webgpu.ts): its constants, and the
 * mini-GEMMs that fill a score tile from two operands staged in workgroup memory and add a weights tile times a
 * chunk's rows into the thread's accumulator. (The register-blocked programs use tiled_wgsl.ts.)
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

/**
 * Stages `DC`-wide chunks of two operands in workgroup memory and sums their products into the thread's
 * RQ x RK block `acc` (zeroed first): rows from the WGSL function `rowFn(t, r, dim)`, columns from
 * `colFn(t, c, j, dim)` (both return 0 outside the tile, the chunk or the head dim), `chunks` dim chunks.
 */
export function scoreGemmWgsl(name: string, rowFn: string, colFn: string, chunks: string,
                              tileType: string): string {
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
 * Adds a weights tile times a chunk's rows into the thread's accumulator: for each of `chunks` column chunks
 * (VC columns of the rows `loader(t, c, j, col)` staged in workgroup memory),
 * `acc[(i * chunks + n) * VPT + m] += sum_j weights[tr * RQ + i][j] * row_j[n * VC + tc + 16 m]`.
 */
export function accumulateWgsl(name: string, loader: string, chunks: string, weights: string,
                               tileType: string): string {
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
