/** Benchmark problems (the presets). */
export interface Preset {
  name: string;
  batch: number;
  spatial: number[];
  heads: number;
  headDim: number;
  kernelSize: number[];
  dilation: number[];
}

export const PRESETS: Preset[] = [
  {name: '1d', batch: 1, spatial: [4096], heads: 4, headDim: 32, kernelSize: [63], dilation: [1]},
  {name: '2d', batch: 1, spatial: [56, 56], heads: 4, headDim: 32, kernelSize: [7, 7], dilation: [1, 1]},
  {name: '2d-dilated', batch: 1, spatial: [56, 56], heads: 4, headDim: 32, kernelSize: [7, 7], dilation: [4, 4]},
  {name: '3d', batch: 1, spatial: [8, 16, 16], heads: 4, headDim: 32, kernelSize: [3, 7, 7], dilation: [1, 1, 1]},
];

export function tokens(p: Preset): number {
  return p.spatial.reduce((a, b) => a * b, 1);
}

/** Effective FLOPs of NA: `4 * batch * heads * tokens * K * dim` (QK and AV, two FLOPs per MAC). */
export function naFlops(p: Preset): number {
  return 4 * p.batch * p.heads * tokens(p) * p.kernelSize.reduce((a, b) => a * b, 1) * p.headDim;
}
