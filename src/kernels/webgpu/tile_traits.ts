/**
 * Tile configuration of the tiled NA programs (fused forward and the two tiled backward passes), in one place
 * so it is easy to tune: every value here is baked into the WGSL and part of the shaderKey.
 *
 * A workgroup of 256 threads is a 16 x 16 grid. In the score phase thread (tr, tc) computes a block of
 * `rowsPerThread x colsPerThread` scores of the `tileRows x chunkCols` score tile (a register-tiled mini-GEMM
 * over the head dim, `dimChunk` dims at a time through workgroup memory); in the accumulation phase it owns
 * the same rows and the output columns `tc + 16 m`, reading the value (or key, query, dO) chunk `valueChunk`
 * columns at a time.
 */
import type {NAInfo} from '../../core/na_info';

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

/**
 * Tiles per padded axis: every dilation group gets ceil(groupLength / tile) tiles of the longest group
 * (tiles past a shorter group's end are empty and return at once).
 */
export function queryTiles(info: NAInfo, t: TileTraits): number[] {
  return [0, 1, 2].map(a => Math.ceil(Math.ceil(info.L3[a] / info.d3[a]) / t.tile[a]) * info.d3[a]);
}
