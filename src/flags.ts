/** tfjs-natten's environment flags. */
import {env} from '@tensorflow/tfjs-core';

/**
 * When true, the NA ops ignore registered kernels and run the version composed of tfjs primitive ops
 * (the path every backend without NA kernels takes). For tests and comparisons.
 */
export const NATTEN_FORCE_COMPOSED = 'NATTEN_FORCE_COMPOSED';

/**
 * When true (the default), the CPU kernels run row kernels generated for the call's head dims
 * (`new Function`); false selects the generic loops. Generation that fails (a Content-Security-Policy
 * without 'unsafe-eval') falls back to the generic loops by itself.
 */
export const NATTEN_CPU_CODEGEN = 'NATTEN_CPU_CODEGEN';

/**
 * When true (the default) and code generation is on, the fused CPU kernels run as WebAssembly SIMD modules
 * generated for the call's head dims; false keeps them in JavaScript. Where WebAssembly SIMD or synchronous
 * compilation is unavailable, the JavaScript row kernels run by themselves.
 */
export const NATTEN_CPU_WASM = 'NATTEN_CPU_WASM';

/**
 * When true (the default, unless the environment variable NATTEN_CPU_NATIVE is '0' or 'false') and the
 * WebAssembly path is on, the CPU kernels in Node run natively (the natten_cpu addon: threads, AVX2) when
 * the addon loads; false, or no addon, runs WebAssembly. Browsers never load it.
 */
export const NATTEN_CPU_NATIVE = 'NATTEN_CPU_NATIVE';

/**
 * When true (the default, unless the environment variable NATTEN_CPU_KEEP_WEIGHTS is '0' or 'false'), the native
 * CPU forward under a recording tape keeps its attention weights (softmax(Q K^T) of each query's window) for the
 * backward, which then skips computing them again: on the `2d` preset the backward's kernel takes about a quarter
 * less time, for 1.75 times the output's memory held until the gradient has run (native/src/cpu/na_cpu.h,
 * kept_weights_length: never more than 4 times). False: the backward computes them again (no memory kept).
 */
export const NATTEN_CPU_KEEP_WEIGHTS = 'NATTEN_CPU_KEEP_WEIGHTS';

/**
 * When true (the default), NA on tfjs-node's `tensorflow` backend runs as TensorFlow ops (the natten_tf
 * addon, loaded by the first NA kernel there: no host copies); false, or no addon, runs the host kernels
 * through `readSync` / `write`.
 */
export const NATTEN_TF_OPS = 'NATTEN_TF_OPS';

/** Which implementation the CPU kernels use: native, WebAssembly SIMD, generated JS row kernels, or generic loops. */
export type CpuKernelPath = 'native' | 'wasm' | 'codegen' | 'generic';

/** The environment variable `name` in Node, else undefined. */
function envValue(name: string): string | undefined {
  return typeof process === 'undefined' ? undefined : process.env?.[name];
}

function onUnlessOff(name: string): boolean {
  const value = envValue(name);
  return value == null || !['0', 'false'].includes(value.toLowerCase());
}

/**
 * Which fused programs the `webgpu` kernels run: 'row' (a thread per query, key or extra token walking its own
 * window: exact work, for small windows and head dims), 'tiled' (workgroup tiles, register-tiled mini-GEMMs
 * through workgroup memory, online softmax: for large windows), 'halo' (the forward only: each query tile's keys
 * and values staged in workgroup memory, then each query walks its own window there; the backward runs the row
 * programs), or 'auto' (by shape: the default, unless the environment variable of the same name says otherwise).
 */
export const NATTEN_WEBGPU_FUSED = 'NATTEN_WEBGPU_FUSED';

/**
 * Tile traits of the register-blocked `webgpu` programs (tiled fused forward, backward dq) as JSON (see
 * src/kernels/webgpu/tile_traits.ts), replacing the per-rank choice: for tuning on a device. '' (the default,
 * unless the environment variable of the same name says otherwise): the built-in choice.
 */
export const NATTEN_WEBGPU_TILE = 'NATTEN_WEBGPU_TILE';

/**
 * When positive, the composed fallback treats this many bytes as the largest tensor the backend can hold (at
 * most the device's own limit) and chunks its work to fit: how the tests exercise the chunking with small
 * tensors. 0 (the default): the device's limit only.
 */
export const NATTEN_COMPOSED_MAX_BYTES = 'NATTEN_COMPOSED_MAX_BYTES';

let registered = false;

export function registerFlags(): void {
  if (!registered) {
    registered = true;
    env().registerFlag(NATTEN_FORCE_COMPOSED, () => false);
    env().registerFlag(NATTEN_CPU_CODEGEN, () => true);
    env().registerFlag(NATTEN_CPU_WASM, () => true);
    env().registerFlag(NATTEN_CPU_NATIVE, () => onUnlessOff(NATTEN_CPU_NATIVE));
    env().registerFlag(NATTEN_CPU_KEEP_WEIGHTS, () => onUnlessOff(NATTEN_CPU_KEEP_WEIGHTS));
    env().registerFlag(NATTEN_TF_OPS, () => true);
    env().registerFlag(NATTEN_WEBGPU_FUSED, () => envValue(NATTEN_WEBGPU_FUSED) ?? 'auto');
    env().registerFlag(NATTEN_WEBGPU_TILE, () => envValue(NATTEN_WEBGPU_TILE) ?? '');
    env().registerFlag(NATTEN_COMPOSED_MAX_BYTES, () => 0);
  }
}

/** Whether the native CPU forward keeps its attention weights under a tape (NATTEN_CPU_KEEP_WEIGHTS). */
export function getCpuKeepWeights(): boolean {
  registerFlags();
  return env().getBool(NATTEN_CPU_KEEP_WEIGHTS);
}

export function getCpuKernelPath(): CpuKernelPath {
  registerFlags();
  if (!env().getBool(NATTEN_CPU_CODEGEN)) {
    return 'generic';
  }
  if (!env().getBool(NATTEN_CPU_WASM)) {
    return 'codegen';
  }
  return env().getBool(NATTEN_CPU_NATIVE) ? 'native' : 'wasm';
}

export function useTfOps(): boolean {
  registerFlags();
  return env().getBool(NATTEN_TF_OPS);
}

export function isComposedForced(): boolean {
  registerFlags();
  return env().getBool(NATTEN_FORCE_COMPOSED);
}

export function getWebGPUTileOverride(): string {
  registerFlags();
  return String(env().get(NATTEN_WEBGPU_TILE));
}

export function getWebGPUFusedPath(): 'auto' | 'row' | 'tiled' | 'halo' {
  registerFlags();
  const value = env().get(NATTEN_WEBGPU_FUSED);
  if (value !== 'auto' && value !== 'row' && value !== 'tiled' && value !== 'halo') {
    throw new Error(`${NATTEN_WEBGPU_FUSED} must be 'auto', 'row', 'tiled' or 'halo', got ${JSON.stringify(value)}`);
  }
  return value;
}
