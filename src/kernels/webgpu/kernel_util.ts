/** Glue shared by the WebGPU kernel functions: NAInfo from tensor shapes, running programs, unpacking. */
import type {TensorInfo} from '@tensorflow/tfjs-core';
import type {NAInfo} from '../../core/na_info';
export {avInfo, qkvInfo} from '../kernel_info';
import {getWebGPUFusedPath, getWebGPUTileOverride} from '../../flags';
import {ConcatProgram, CopyProgram} from './copy_webgpu';
import {Backend, deviceLimits, isSoftwareAdapter, NAProgram, ProgramUniform} from './program_util';
import {chooseGemmTraits, GemmTileTraits} from './tile_traits';


/**
 * Runs a program on the present inputs, each passed flat: the programs index buffers themselves, and flat
 * inputs keep tfjs's pipeline key (which includes the inputs' ranks) the same for 1-D, 2-D and 3-D calls.
 */
export function run(backend: Backend, program: NAProgram, inputs: Array<TensorInfo | null | undefined>,
                    uniforms: ProgramUniform): TensorInfo {
  const flat = (inputs.filter(t => t != null) as TensorInfo[])
                   .map(t => ({dataId: t.dataId, shape: [t.shape.reduce((a, b) => a * b, 1)], dtype: t.dtype}));
  return backend.runWebGPUProgram(program, flat, 'float32', uniforms);
}

/**
 * The packed regions of `packed`, from `start` floats in, as tensors of the given shapes (in order); disposes
 * `packed`.
 */
export function unpack(backend: Backend, packed: TensorInfo, shapes: number[][], start = 0): TensorInfo[] {
  const limit = deviceLimits(backend).maxComputeWorkgroupsPerDimension;
  let offset = start;
  const outs = shapes.map(shape => {
    const count = shape.reduce((a, b) => a * b, 1);
    const info = backend.runWebGPUProgram(new CopyProgram(count, limit), [packed], 'float32',
                                          [{type: 'int32', data: [offset]}, {type: 'int32', data: [count]}]);
    offset += count;
    return {dataId: info.dataId, shape, dtype: 'float32' as const};
  });
  backend.disposeData(packed.dataId);
  return outs;
}

/** A flat result as a tensor of the given shape (same buffer). */
export function shaped(info: TensorInfo, shape: number[]): TensorInfo {
  return {dataId: info.dataId, shape, dtype: 'float32'};
}

/** The extra keys and values as one buffer (keys first), or null without extra tokens. */
export function packExtras(backend: Backend, keys: TensorInfo | undefined, values: TensorInfo | undefined):
    TensorInfo | null {
  if (keys == null || values == null) {
    return null;
  }
  const n0 = keys.shape.reduce((a, b) => a * b, 1), n = n0 + values.shape.reduce((a, b) => a * b, 1);
  const limit = deviceLimits(backend).maxComputeWorkgroupsPerDimension;
  return backend.runWebGPUProgram(new ConcatProgram(n, limit), [keys, values], 'float32',
                                  [{type: 'int32', data: [n0]}, {type: 'int32', data: [n]}]);
}

/**
 * The fused programs for a call: the row programs for small windows and head dims (each thread's exact work
 * is small and the tile's box would be mostly masked), the tiled ones otherwise; NATTEN_WEBGPU_FUSED forces one.
 */
export function useTiled(info: NAInfo): boolean {
  const path = getWebGPUFusedPath();
  if (path !== 'auto') {
    return path === 'tiled';
  }
  return info.kernelVolume > 64 || info.headDim > 64 || info.headDimV > 64;
}

/**
 * The backward's programs: useTiled's, except that with rpb, calls of 65536+ query rows and windows of 32+ keys
 * take the tiled ones, whose dq pass sums the rpb gradient (2d-nat with rpb and 4 extra tokens on the H200: tiled
 * 4.52 ms, row programs 12.78, 7.41 of them the rpb pass).
 */
export function useTiledBackward(info: NAInfo): boolean {
  return useTiled(info) || (getWebGPUFusedPath() === 'auto' && info.hasRpb && info.kernelVolume >= 32 &&
                            info.batch * info.numTokens * info.heads >= 65536);
}

/**
 * The fused forward's program for a call: the one NATTEN_WEBGPU_FUSED names ('halo': na_forward_halo_webgpu.ts);
 * else tiled where the backward is (useTiled), and for 2-D windows of 32 keys or more with head dims up to 32 in
 * calls of at least 65536 query rows (2d-nat on the H200: tiled 0.478 ms, row 0.707 ms); else the row program.
 * Small calls keep it: they do not fill a large GPU, and it compiles in well under a second on a software adapter.
 */
export function forwardPath(info: NAInfo): 'row' | 'tiled' | 'halo' {
  const path = getWebGPUFusedPath();
  if (path !== 'auto') {
    return path;
  }
  const rows = info.batch * info.numTokens * info.heads;
  const smallTiled = info.naDim === 2 && info.kernelVolume >= 32 && Math.max(info.headDim, info.headDimV) <= 32 &&
                     rows >= 65536;
  return useTiled(info) || smallTiled ? 'tiled' : 'row';
}

/**
 * Whether the tiled forward of a call that needs no logsumexp writes its output alone and redoes its non-finite
 * elements itself, with no copy after it (else it writes `[output | logsumexp]` and the exact copy hands the output
 * back). On the H200 (bench/RESULTS.md, 2026-12-02, in turns against the copy): 2d-large 1.483-1.493 ms against
 * 1.545-1.551, 3d-video the same (146.5-146.7), 1d-long 22.94-22.99 against 22.51-22.61 (the 1-D pick, 128 threads
 * of 4x4 blocks, holds 224 registers with the redo). So 2-D and 3-D only.
 */
export function directForward(info: NAInfo): boolean {
  return info.naDim > 1;
}

/**
 * The register-blocked tile traits for a call on this device, for the fused forward (`forward`) or the backward
 * dq and dk/dv passes (NATTEN_WEBGPU_TILE overrides them; a software adapter takes SOFTWARE_TRAITS); `extraBytes`
 * as chooseGemmTraits's.
 */
export function gemmTraits(backend: Backend, info: NAInfo, forward = false,
                           extraBytes?: (t: GemmTileTraits) => number): GemmTileTraits {
  const limits = deviceLimits(backend);
  return chooseGemmTraits(info, limits.maxComputeWorkgroupStorageSize, limits.maxComputeInvocationsPerWorkgroup,
                          getWebGPUTileOverride(), forward, extraBytes, isSoftwareAdapter(backend));
}
