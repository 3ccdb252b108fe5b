/**
 * The problems of the CUDA self-check (fast kernels against the reference kernels, every op, both
 * precisions): the large shapes of the GPU check and the small ones the host emulator runs. No tfjs here:
 * bench/cuda_selfcheck.ts runs the GPU cases with the addon alone.
 */
import type {CudaProblem} from '../src/kernels/cuda/addon';

/** A problem for the self-check, written per spatial axis and padded to three axes like NAInfo. */
export interface CheckSpec {
  batch?: number;
  spatial: number[];
  heads?: number;
  headsKv?: number;
  headDim: number;
  headDimV?: number;
  kernel: number[];
  stride?: number[];
  dilation?: number[];
  causal?: boolean[];
  rpb?: boolean;
  extra?: number;
}

export function cudaProblemOf(s: CheckSpec): CudaProblem {
  const pad = (xs: number[] | undefined, fill: number) => {
    const v = xs ?? s.spatial.map(() => fill);
    return [...Array(3 - v.length).fill(1), ...v];
  };
  return {
    batch: s.batch ?? 1,
    heads: s.heads ?? 1,
    headsKv: s.headsKv ?? s.heads ?? 1,
    headDim: s.headDim,
    headDimV: s.headDimV ?? s.headDim,
    nExtra: s.extra ?? 0,
    length: pad(s.spatial, 1),
    kernel: pad(s.kernel, 1),
    stride: pad(s.stride, 1),
    dilation: pad(s.dilation, 1),
    causal: [...Array(3 - s.spatial.length).fill(0), ...(s.causal ?? s.spatial.map(() => false)).map(c => (c ? 1 : 0))],
    hasRpb: s.rpb ?? false,
    scale: 1 / Math.sqrt(s.headDim),
  };
}

export function describeSpec(s: CheckSpec): string {
  const x = (v: unknown[] | undefined, fill: string) =>
      (v == null ? fill : v.map(e => (typeof e === 'boolean' ? Number(e) : e)).join('x'));
  return `${s.spatial.length}d b${s.batch ?? 1} L=${x(s.spatial, '')} h${s.heads ?? 1}/${s.headsKv ?? s.heads ?? 1} d${
             s.headDim}/${s.headDimV ?? s.headDim} k=${x(s.kernel, '')} s=${x(s.stride, '1')} dil=${
             x(s.dilation, '1')} causal=${x(s.causal, '0')}${s.rpb ? ' rpb' : ''}${s.extra ? ` extra${s.extra}` : ''}`;
}

/**
 * Large random shapes for the device: every op, 1/2/3-D, causal, stride, dilation, GQA, rpb, extra tokens,
 * head dims 32 to 256 and odd ones (not multiples of 4: the 4-byte copy path), partial tiles on every axis.
 */
export const GPU_CASES: CheckSpec[] = [
  {batch: 2, spatial: [2000], kernel: [63], dilation: [2], causal: [true], heads: 4, headsKv: 2, headDim: 32, rpb: true,
   extra: 3},
  {spatial: [4096], kernel: [255], stride: [4], heads: 2, headDim: 64},
  {spatial: [1500], kernel: [33], dilation: [3], heads: 2, headDim: 128},
  {spatial: [700], kernel: [17], heads: 1, headDim: 256, extra: 2},
  {batch: 2, spatial: [40, 52], kernel: [7, 9], dilation: [1, 2], causal: [true, false], heads: 4, headsKv: 2,
   headDim: 32, rpb: true},
  {spatial: [64, 64], kernel: [13, 13], stride: [2, 2], heads: 4, headDim: 64, extra: 4},
  {spatial: [33, 47], kernel: [5, 11], dilation: [2, 1], causal: [false, true], heads: 2, headsKv: 1, headDim: 128,
   headDimV: 96, rpb: true},
  {spatial: [24, 24], kernel: [7, 7], heads: 2, headDim: 256, rpb: true},
  {spatial: [8, 20, 20], kernel: [3, 5, 5], causal: [true, false, false], heads: 4, headsKv: 2, headDim: 32, rpb: true,
   extra: 2},
  {spatial: [10, 16, 24], kernel: [4, 8, 8], stride: [2, 2, 1], dilation: [1, 1, 2], heads: 2, headDim: 64},
  {spatial: [6, 12, 12], kernel: [3, 7, 7], causal: [true, true, true], heads: 2, headDim: 128},
  {spatial: [5, 10, 10], kernel: [3, 3, 3], heads: 1, headDim: 256, rpb: true, extra: 1},
  {spatial: [30, 30], kernel: [7, 7], heads: 2, headDim: 40, headDimV: 24, rpb: true},
  {spatial: [999], kernel: [31], heads: 2, headDim: 97, extra: 5},
  {spatial: [7, 9, 11], kernel: [3, 3, 5], dilation: [2, 1, 1], heads: 3, headsKv: 1, headDim: 13},
  {spatial: [20, 20], kernel: [5, 5], heads: 1, headDim: 7, headDimV: 3},
];

/** Small shapes for the host emulator (the same features, every head-dim bucket). */
export const EMULATOR_CASES: CheckSpec[] = [
  {spatial: [37], kernel: [7], dilation: [2], causal: [true], heads: 2, headsKv: 1, headDim: 16, rpb: true, extra: 3},
  {spatial: [70], kernel: [9], stride: [3], headDim: 256, headDimV: 200, rpb: true, extra: 1},
  {batch: 2, spatial: [9, 11], kernel: [3, 4], dilation: [2, 1], causal: [false, true], heads: 2, headDim: 8,
   headDimV: 12, rpb: true},
  {spatial: [6, 13], kernel: [3, 5], dilation: [1, 2], heads: 2, headDim: 100, headDimV: 120},
  {spatial: [3, 5, 7], kernel: [2, 3, 3], stride: [1, 2, 1], causal: [true, false, false], heads: 4, headsKv: 2,
   headDim: 64, rpb: true, extra: 2},
  {spatial: [4, 4, 6], kernel: [4, 4, 3], dilation: [1, 1, 2], heads: 1, headDim: 9, headDimV: 5},
];

/**
 * Small shapes for the fused forward's every tile configuration (test/cuda_checks.ts, forwardConfigTests):
 * several chunks of 128 keys, extra-token chunks, partial tiles, masked and unmasked chunks, rpb, each
 * head-dim bucket that has more than one configuration, odd head dims and headDim != headDimV, 3-D boxes.
 */
export const FORWARD_CONFIG_CASES: CheckSpec[] = [
  {spatial: [300], kernel: [129], causal: [false], heads: 1, headDim: 16, rpb: true, extra: 3},
  {spatial: [200], kernel: [61], dilation: [2], causal: [true], heads: 1, headDim: 64, headDimV: 60, extra: 70},
  {batch: 2, spatial: [13, 19], kernel: [5, 7], dilation: [1, 2], causal: [false, true], heads: 1, headDim: 9,
   headDimV: 12, rpb: true},
  {spatial: [3, 6, 9], kernel: [3, 3, 5], stride: [1, 2, 1], heads: 1, headDim: 100, headDimV: 128, extra: 2},
  // 3-D within bucket 32 (the wgmma kernels run there too): boxes of several planes, whose chunks' rows carry
  // from one axis into the next.
  {spatial: [4, 6, 7], kernel: [3, 3, 3], dilation: [1, 1, 2], heads: 1, headDim: 24, rpb: true, extra: 1},
];
