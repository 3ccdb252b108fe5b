/** Benchmark problems (the presets). */
export interface Preset {
  name: string;
  batch: number;
  spatial: number[];
  heads: number;
  headDim: number;
  kernelSize: number[];
  dilation: number[];
  /** GPU-sized presets: not run by default on the host backends. */
  gpu?: boolean;
}

export const PRESETS: Preset[] = [
  {name: '1d', batch: 1, spatial: [4096], heads: 4, headDim: 32, kernelSize: [63], dilation: [1]},
  {name: '2d', batch: 1, spatial: [56, 56], heads: 4, headDim: 32, kernelSize: [7, 7], dilation: [1, 1]},
  {name: '2d-dilated', batch: 1, spatial: [56, 56], heads: 4, headDim: 32, kernelSize: [7, 7], dilation: [4, 4]},
  {name: '3d', batch: 1, spatial: [8, 16, 16], heads: 4, headDim: 32, kernelSize: [3, 7, 7], dilation: [1, 1, 1]},
  {name: '2d-nat', batch: 16, spatial: [56, 56], heads: 4, headDim: 32, kernelSize: [7, 7], dilation: [1, 1], gpu: true},
  {name: '2d-large', batch: 1, spatial: [128, 128], heads: 16, headDim: 64, kernelSize: [13, 13], dilation: [1, 1],
   gpu: true},
  {name: '3d-video', batch: 1, spatial: [16, 48, 80], heads: 24, headDim: 128, kernelSize: [8, 16, 16],
   dilation: [1, 1, 1], gpu: true},
  {name: '1d-long', batch: 4, spatial: [32768], heads: 8, headDim: 64, kernelSize: [1023], dilation: [1], gpu: true},
];

export function tokens(p: Preset): number {
  return p.spatial.reduce((a, b) => a * b, 1);
}

/** Effective FLOPs of NA: `4 * batch * heads * tokens * K * dim` (QK and AV, two FLOPs per MAC). */
export function naFlops(p: Preset): number {
  return 4 * p.batch * p.heads * tokens(p) * p.kernelSize.reduce((a, b) => a * b, 1) * p.headDim;
}
