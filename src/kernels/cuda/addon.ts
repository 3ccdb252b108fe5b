/**
 * The natten_cuda addon (native/src/addon): its exports, and loading it once through the generic loader.
 * Loading never throws; `getCudaStatus()` says whether CUDA can run and, when not, why.
 */
import {AddonLoad, loadAddon} from '../../native/addon_loader';
import {CudaDeviceStatus, CudaStatus, cudaStatusFrom} from './status';

/** One problem as the addon takes it: three padded axes (leading axes of length 1, kernel 1). */
export interface CudaProblem {
  batch: number;
  heads: number;
  headsKv: number;
  headDim: number;
  headDimV: number;
  nExtra: number;
  length: number[];
  kernel: number[];
  stride: number[];
  dilation: number[];
  causal: number[];
  hasRpb: boolean;
  scale: number;
}

export interface CudaOptions {
  /** 'tf32': tensor cores in TF32 (the default); 'float32': full float32. The split ops always use float32. */
  precision: 'tf32' | 'float32';
  /** 'reference' forces the simple reference kernels (for debugging); 'auto' the fast ones where they apply. */
  implementation?: 'auto' | 'reference';
  /** The fused forward's tile configuration (an index of `forwardConfigs()`, TF32 only); the dispatcher's by default. */
  forwardConfig?: number;
}

type Arrays = Record<string, Float32Array | null | undefined>;

export interface SelfCheckResult {
  op: string;
  tensor: string;
  relErr: number;
  maxAbs: number;
  bad: number;
  elems: number;
  tolerance: number;
  pass: boolean;
}

export interface NattenCudaAddon {
  naForward(p: CudaProblem, inputs: Arrays, o: CudaOptions): {output: Float32Array, lse: Float32Array};
  naBackward(p: CudaProblem, inputs: Arrays, o: CudaOptions): Record<string, Float32Array>;
  qkForward(p: CudaProblem, inputs: Arrays, o: CudaOptions): {logits: Float32Array};
  qkBackward(p: CudaProblem, inputs: Arrays, o: CudaOptions): Record<string, Float32Array>;
  avForward(p: CudaProblem, inputs: Arrays, o: CudaOptions): {output: Float32Array};
  avBackward(p: CudaProblem, inputs: Arrays, o: CudaOptions): Record<string, Float32Array>;
  deviceStatus(): CudaDeviceStatus;
  /** Which kernels a fused call would run ("fast hdim 64 tf32 tile 1x8x8 fwd config 0 (4 warps, 64 keys)" or "reference (<why>)"). */
  describeFused(p: CudaProblem, o: CudaOptions): string;
  /** Where the last call's time went (CUDA events). */
  lastTiming(): {h2dMs: number, kernelMs: number, d2hMs: number};
  /** Device memory kept between calls, and freeing it. */
  reservedBytes(): number;
  releaseMemory(): void;
  /** Makes the call after the next `skip` calls fail as if the device were out of memory (tests of the error path). */
  failNextAllocation(skip?: number): void;
  /** The fused forward's tile configurations (warps per CTA, keys per chunk), for the benchmark's sweep. */
  forwardConfigs(): Array<{index: number, warps: number, blockN: number, minBlocks: number, qInRegisters: boolean,
                           lean: number, tileByReach: boolean}>;
  /** `forwardOnly`: the fused forward alone. */
  selfCheck(p: CudaProblem, o: CudaOptions&{seed?: number, forwardOnly?: boolean}): {
    kernels: string, results: SelfCheckResult[], fastForwardMs: number, referenceForwardMs: number,
    fastBackwardMs: number, referenceBackwardMs: number,
  };
  benchmark(p: CudaProblem, o: CudaOptions&{warmup?: number, iters?: number, forwardOnly?: boolean}):
      {forwardMs: number, forwardBackwardMs: number, kernels: string};
  /** Device-to-device copy bandwidth in bytes per second (read plus write). */
  copyBandwidth(bytes: number, iters: number): number;
  buildInfo: {emulated: boolean, cudaRuntime: number, archs: string};
}

export const CUDA_ADDON_NAME = 'natten_cuda';
/** Set (to anything but '', '0', 'false') to keep the CUDA addon unloaded: NA runs on the CPU kernels. */
export const NATTEN_CUDA_DISABLE = 'NATTEN_CUDA_DISABLE';
/** A path to load the addon from instead of the package's prebuilds/ and build/Release/. */
export const NATTEN_CUDA_ADDON = 'NATTEN_CUDA_ADDON';

let status: CudaStatus | null = null;
let loaded: AddonLoad<NattenCudaAddon> | null = null;

export function loadCudaAddon(): AddonLoad<NattenCudaAddon> {
  if (loaded == null) {
    loaded = loadAddon<NattenCudaAddon>(CUDA_ADDON_NAME, NATTEN_CUDA_DISABLE, NATTEN_CUDA_ADDON);
  }
  return loaded;
}

/** Whether CUDA can run NA here, and why not (computed once: loading the addon asks the driver). */
export function getCudaStatus(): CudaStatus {
  if (status == null) {
    status = cudaStatusFrom(loadCudaAddon());
  }
  return status;
}

/** The loaded addon of an available device (callers check getCudaStatus() first). */
export function cudaAddon(): NattenCudaAddon {
  const s = getCudaStatus();
  if (!s.available) {
    throw new Error(`tfjs-natten: CUDA is unavailable: ${s.reason}`);
  }
  return loadCudaAddon().addon!;
}
