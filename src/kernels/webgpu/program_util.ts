/**
 * What every tfjs-natten WebGPU program shares: the backend handle (typed here, never imported at run time),
 * the NA geometry uniforms, a dispatch that stays inside the adapter's per-dimension workgroup limit, and
 * the checks of the device's buffer limits.
 */
import type {TensorInfo} from '@tensorflow/tfjs-core';
import type {WebGPUBackend, WebGPUProgram} from '@tensorflow/tfjs-backend-webgpu';
import type {NAInfo} from '../../core/na_info';
import {naMaskWgsl} from './na_mask_wgsl';

export type Backend = WebGPUBackend;
export type ProgramUniform = Array<{type: 'int32' | 'float32' | 'uint32', data: number[]}>;

/**
 * Uniforms of every NA program (after tfjs's own shape uniforms), in this order. Per-axis values are padded
 * to three axes (leading axes of length 1, like NAInfo's L3/k3/...); the fourth lane is unused.
 * `workgroupCount` is the number of workgroups the program really needs (the dispatch may round it up).
 * Head dims are uniforms too: programs bake only their dims rounded up (to a multiple of 4 in the row programs,
 * `RowDims`; of their staging steps in the register-blocked ones, `TiledDims`; of 16 in the extra tokens' dk/dv
 * pass, `dimClass`), so one pipeline serves every head dim of its class.
 */
export const GEOMETRY_UNIFORMS = 'batch : i32, heads : i32, headsKv : i32, headsPerKv : i32, numTokens : i32, ' +
    'nExtra : i32, kernelVolume : i32, workgroupCount : i32, scale : f32, headDim : i32, headDimV : i32, ' +
    'lengths : vec4<i32>, ' +
    'kernel : vec4<i32>, stride : vec4<i32>, dilation : vec4<i32>, causal : vec4<i32>, rpbDims : vec4<i32>, ' +
    'tiles : vec4<i32>, ';

function vec4(values: number[]): number[] {
  return [...values, 0];
}

/** Uniform data matching GEOMETRY_UNIFORMS. `tiles`: program-specific per-axis tile counts. */
export function geometryUniforms(info: NAInfo, workgroupCount: number, tiles: number[] = [1, 1, 1]):
    ProgramUniform {
  const i = (data: number[]) => ({type: 'int32' as const, data});
  return [
    i([info.batch]), i([info.heads]), i([info.headsKv]), i([info.headsPerKv]), i([info.numTokens]),
    i([info.nExtra]), i([info.kernelVolume]), i([workgroupCount]), {type: 'float32', data: [info.scale]},
    i([info.headDim]), i([info.headDimV]),
    i(vec4(info.L3)), i(vec4(info.k3)), i(vec4(info.s3)), i(vec4(info.d3)),
    i(vec4(info.causal3.map(c => (c ? 1 : 0)))), i(vec4(info.rpb3)), i(vec4(tiles)),
  ];
}

/**
 * WGSL helpers over the geometry uniforms, after the index math: the linear workgroup index (the dispatch is
 * folded into x and y to respect maxComputeWorkgroupsPerDimension), per-axis accessors, token <-> coordinates,
 * a token's window and inverse window on every axis.
 */
export const GEOMETRY_WGSL = naMaskWgsl() + `
fn workgroupIndex() -> i32 {
  return i32(workgroupId.x + workgroupId.y * numWorkgroups.x);
}
fn axisCausal(a : i32) -> bool {
  return uniforms.causal[a] != 0;
}
fn tokenOf(c : vec3<i32>) -> i32 {
  return (c.x * uniforms.lengths.y + c.y) * uniforms.lengths.z + c.z;
}
fn coordsOf(token : i32) -> vec3<i32> {
  let x = token % uniforms.lengths.z;
  let rest = token / uniforms.lengths.z;
  return vec3<i32>(rest / uniforms.lengths.y, rest % uniforms.lengths.y, x);
}
fn groupLengthOf(a : i32, g : i32) -> i32 {
  return getGroupLength(uniforms.lengths[a], uniforms.dilation[a], g);
}
// The rpb entries per head, and the rpb part of an in-group position: the rpb offset of (key, query) is
// h * rpbVolume() + rpbPart(key) - rpbPart(query) + rpbPart(kernel - 1).
fn rpbVolume() -> i32 {
  return uniforms.rpbDims.x * uniforms.rpbDims.y * uniforms.rpbDims.z;
}
fn rpbPart(hat : vec3<i32>) -> i32 {
  return (hat.x * uniforms.rpbDims.y + hat.y) * uniforms.rpbDims.z + hat.z;
}
// The window (first key, valid slots, rpb index of slot 0) of a token along each axis.
struct Window3 {
  first : vec3<i32>,
  count : vec3<i32>,
  rpbBase : vec3<i32>,
};

fn windowOf(token : i32) -> Window3 {
  let i = coordsOf(token);
  var w : Window3;
  for (var a = 0; a < 3; a++) {
    let aw = getAxisWindow(i[a], uniforms.lengths[a], uniforms.kernel[a], uniforms.stride[a], uniforms.dilation[a],
                           axisCausal(a));
    w.first[a] = aw.first;
    w.count[a] = aw.count;
    w.rpbBase[a] = aw.rpbBase;
  }
  return w;
}

fn inverseWindowOf(token : i32) -> Window3 {
  let j = coordsOf(token);
  var w : Window3;
  for (var a = 0; a < 3; a++) {
    let iw = getAxisInverseWindow(j[a], uniforms.lengths[a], uniforms.kernel[a], uniforms.stride[a],
                                  uniforms.dilation[a], axisCausal(a));
    w.first[a] = iw.first;
    w.count[a] = iw.count;
  }
  return w;
}

fn rpbOffset(h : i32, idx : vec3<i32>) -> i32 {
  return ((h * uniforms.rpbDims.x + idx.x) * uniforms.rpbDims.y + idx.y) * uniforms.rpbDims.z + idx.z;
}
`;

/** A flat program: output `[size]`, one-dimensional layout, workgroups folded into x and y. */
export abstract class NAProgram implements WebGPUProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: {x: number[]};
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  variableNames: string[];
  uniforms = GEOMETRY_UNIFORMS;
  /** Workgroups the program needs (the dispatch may hold a few more, which return at once). */
  count: number;

  constructor(name: string, key: string, variableNames: string[], outputSize: number, workgroupCount: number,
              threads: number, maxPerDimension: number) {
    this.variableNames = variableNames;
    this.outputShape = [outputSize];
    this.shaderKey = `natten_${name}_${key}`;
    this.dispatchLayout = {x: [0]};
    this.workgroupSize = [threads, 1, 1];
    this.dispatch = foldDispatch(workgroupCount, maxPerDimension);
    this.count = workgroupCount;
  }

  abstract getUserCode(): string;
}

/** `count` workgroups as [x, y, 1] with x, y <= maxPerDimension (the shader skips indices >= count). */
export function foldDispatch(count: number, maxPerDimension: number): [number, number, number] {
  if (count <= maxPerDimension) {
    return [Math.max(count, 1), 1, 1];
  }
  const y = Math.ceil(count / maxPerDimension);
  if (y > maxPerDimension) {
    throw new Error(`tfjs-natten webgpu: ${count} workgroups exceed maxComputeWorkgroupsPerDimension^2 = ${
        maxPerDimension}^2`);
  }
  return [Math.ceil(count / y), y, 1];
}

export interface DeviceLimits {
  maxComputeWorkgroupsPerDimension: number;
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
}

export function deviceLimits(backend: Backend): DeviceLimits {
  return backend.device.limits as unknown as DeviceLimits;
}

/**
 * Whether the backend's adapter runs on the CPU: its architecture (as tfjs keeps it from the adapter's info) is
 * `software` (Dawn's name for lavapipe and other CPU Vulkan drivers) or `swiftshader` (Chrome's fallback adapter).
 */
export function isSoftwareAdapter(backend: Backend): boolean {
  const info = (backend as unknown as {adapterInfo?: {architecture?: unknown}}).adapterInfo;
  return typeof info?.architecture === 'string' && /^(software|swiftshader)$/i.test(info.architecture);
}

/**
 * Rejects, before any work, a tensor that no WebGPU program can bind: tfjs binds each tensor's whole buffer,
 * so a tensor (input, output or intermediate) larger than maxStorageBufferBindingSize cannot take part.
 */
export function checkBindable(op: string, limits: DeviceLimits, tensors: Array<[string, number]>): void {
  const limit = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  for (const [name, elements] of tensors) {
    const bytes = 4 * elements;
    if (bytes > limit) {
      throw new Error(`${op} (webgpu): ${name} needs a ${bytes}-byte buffer, over the adapter's ${
          limits.maxStorageBufferBindingSize < limits.maxBufferSize ? 'maxStorageBufferBindingSize' :
                                                                       'maxBufferSize'} of ${
          limit} bytes; split the call over batch or heads`);
    }
  }
}

export function disposeAll(backend: Backend, infos: Array<TensorInfo | null | undefined>): void {
  for (const t of infos) {
    if (t != null) {
      backend.disposeData(t.dataId);
    }
  }
}

/**
 * The forward programs' online softmax takes its weights relative to a per-row reference `m` and moves it (a
 * rescale of the row's sum and accumulator) only when a score exceeds it by more than this: weights stay at
 * most `exp(RESCALE_MARGIN)`, far inside float32's range, and after a row's first keys the rescale is rare.
 */
export const RESCALE_MARGIN = 8;

/** Head dims rounded up to a multiple of 16: what the extra tokens' dk/dv pass bakes into its loops (and shaderKey). */
export function dimClass(dim: number): number {
  return Math.max(16, Math.ceil(dim / 16) * 16);
}
