/**
 * The native CPU kernels (the natten_cpu addon, C++ in native/src/cpu: a thread pool sized to the machine,
 * AVX2+FMA row kernels where the CPU has them) over the Float32Arrays the kernels are given: the addon
 * reads the inputs and writes the outputs in place, nothing is copied. Each function returns null when the
 * addon is unavailable (not built, not Node, refused to load); `nativeCpuStatus()` says why.
 *
 * The addon is loaded on first use, through src/native/addon_loader.ts, which never throws and is inert in
 * a browser bundle.
 */
import {NAInfo} from '../../core/na_info';
import {AddonLoad, loadAddon} from '../../native/addon_loader';
import type {AVBackwardResult, NABackwardResult, NAForwardResult, QKBackwardResult} from './na_impl';

type F32 = Float32Array;
type Opt = F32 | null;

/** What natten_cpu exports (native/src/cpu/addon.cc). */
export interface NattenCpuAddon {
  /** Returns whether it kept the attention weights in `weights` (keptWeightsLength(geometry) floats) for naBackward. */
  naForward(geometry: Int32Array, scale: number, query: F32, key: F32, value: F32, rpb: Opt, additionalKeys: Opt,
            additionalValues: Opt, output: F32, lse: F32, weights?: Opt): boolean;
  /** `weights`: those naForward kept for these inputs, or null (then computed again). */
  naBackward(geometry: Int32Array, scale: number, query: F32, key: F32, value: F32, rpb: Opt, additionalKeys: Opt,
             additionalValues: Opt, output: F32, lse: F32, dOutput: F32, dLse: Opt, dQuery: F32, dKey: F32,
             dValue: F32, dRpb: Opt, dAdditionalKeys: Opt, dAdditionalValues: Opt, weights?: Opt): void;
  /** Floats of the attention weights naForward can keep for this geometry; 0 where it cannot (na_cpu.h). */
  keptWeightsLength(geometry: Int32Array): number;
  qkForward(geometry: Int32Array, scale: number, query: F32, key: F32, rpb: Opt, additionalKeys: Opt,
            logits: F32): void;
  qkBackward(geometry: Int32Array, scale: number, query: F32, key: F32, additionalKeys: Opt, dLogits: F32,
             dQuery: F32, dKey: F32, dRpb: Opt, dAdditionalKeys: Opt): void;
  avForward(geometry: Int32Array, weights: F32, value: F32, additionalValues: Opt, output: F32): void;
  avBackward(geometry: Int32Array, weights: F32, value: F32, additionalValues: Opt, dOutput: F32, dWeights: F32,
             dValue: F32, dAdditionalValues: Opt): void;
  /**
   * Row kernels: 'auto' | 'avx512zmm' ('avx512' with the blocked backward on 512-bit rows; auto's pick on AVX-512) |
   * 'avx512' (AVX2 code with AVX-512VL's 32 registers) | 'avx2' | 'portable'; false when AVX-512 or AVX2 is asked
   * for and the CPU lacks it.
   */
  setIsa(isa: 'auto' | 'avx512zmm' | 'avx512' | 'avx2' | 'portable'): boolean;
  isa(): 'avx512zmm' | 'avx512' | 'avx2' | 'portable';
  cpuHasAvx2(): boolean;
  cpuHasAvx512(): boolean;
  /** Query lines per tile of the blocked backward: 2 (default; NATTEN_CPU_TILE_LINES=1 makes it 1) or 1. */
  setTileLines(lines: 1 | 2): void;
  /** The fused backward's blocked kernel on (default; NATTEN_CPU_BLOCKED_BACKWARD=0 turns it off) or off. */
  setBlockedBackward(on: boolean): void;
  /** Whether naBackward takes the blocked kernel for this geometry (when its inputs are finite). */
  blockedBackward(geometry: Int32Array): boolean;
  /** The fused forward's blocked kernel (on by default; NATTEN_CPU_BLOCKED_FORWARD=0 at load turns it off). */
  setBlockedForward(on: boolean): void;
  /** Whether naForward takes the blocked kernel for this geometry (when the value is finite). */
  blockedForward(geometry: Int32Array): boolean;
  /** Threads in all, the caller included; 0 restores the default (the CPUs this process may use). */
  setNumThreads(n: number): void;
  numThreads(): number;
  /**
   * Microseconds an idle worker of the pool keeps checking for the next job before it sleeps (0: at once);
   * NATTEN_POOL_SPIN_US sets the default, else 100.
   */
  setPoolSpin(us: number): void;
  poolSpin(): number;
  /** The core clock from timed dependent-instruction chains (the benchmark's peak figure); 0 if unmeasurable. */
  measureClock(): {addChainGhz: number, fmaChainGhz: number};
  /** n floats, uninitialized, the first one 64-byte aligned (a view into a Node Buffer). */
  output(n: number): F32;
}

export const NATTEN_CPU_ADDON = 'natten_cpu';

/** The addon, loaded once (null when unavailable). */
export function nattenCpu(): NattenCpuAddon | null {
  return loadAddon<NattenCpuAddon>(NATTEN_CPU_ADDON).addon;
}

/** Whether natten_cpu loaded, from where, or why not. */
export function nativeCpuStatus(): AddonLoad<NattenCpuAddon> {
  return loadAddon<NattenCpuAddon>(NATTEN_CPU_ADDON);
}

/** The geometry the addon takes: batch, L3, k3, s3, d3, causal3, heads, headsKv, headDim, headDimV, nExtra, hasRpb. */
export function geometry(info: NAInfo): Int32Array {
  return Int32Array.from([
    info.batch, ...info.L3, ...info.k3, ...info.s3, ...info.d3, ...info.causal3.map(c => (c ? 1 : 0)), info.heads,
    info.headsKv, info.headDim, info.headDimV, info.nExtra, info.hasRpb ? 1 : 0,
  ]);
}

/**
 * The kernels' output arrays. The addon writes every element of its outputs (native/src/cpu/na_cpu.h), so they are
 * not cleared: a new cleared array of a few megabytes costs a pass over it in JavaScript and its pages' first
 * touches before the kernel runs (about 0.15 ms per 1.6 MB on a 2-core VM), while uninitialized memory (a Node
 * Buffer's, as `Buffer.allocUnsafeSlow` gives) is mostly memory the process freed before, already mapped. The
 * addon makes them (`output`) so that they start on a cache line: the blocked kernels then write output rows as
 * whole lines with streaming stores, which skip reading each line of the (no longer cached) memory first.
 * outputLike: an output array of x's length, or null without x.
 */
const outputLike = (addon: NattenCpuAddon, x: Opt) => (x == null ? null : addon.output(x.length));

/**
 * The attention weights a forward kept (`keepWeights`), by the logsumexp array it returned: the backward is handed
 * that same array (the cpu backend's readSync returns the array a kernel wrote), and takes the weights when its
 * query, key, value and rpb are the forward's too. An entry lives as long as that logsumexp array (the tape's saved
 * tensor, until the gradient has run and tfjs drops it).
 */
interface KeptWeights {
  weights: F32;
  query: F32;
  key: F32;
  value: F32;
  rpb: Opt;
}
const keptWeights = new WeakMap<F32, KeptWeights>();

/**
 * Weight buffers the backward is done with, by length, for the next forwards: internal memory no tensor holds, so
 * it can be reused (a new buffer of megabytes per forward cost more in page faults and garbage collection than
 * the backward saved). At most POOL_BYTES in all; a buffer that would not fit is left to the garbage collector.
 */
const POOL_BYTES = 256 * 1024 * 1024;
const pool = new Map<number, F32[]>();
let pooledBytes = 0;

function takeWeights(addon: NattenCpuAddon, n: number): F32 {
  const free = pool.get(n);
  const w = free?.pop();
  if (w != null) {
    pooledBytes -= w.byteLength;
    return w;
  }
  return addon.output(n);
}

function releaseWeights(w: F32): void {
  if (pooledBytes + w.byteLength > POOL_BYTES) {
    return;
  }
  pooledBytes += w.byteLength;
  const free = pool.get(w.length);
  if (free != null) {
    free.push(w);
  } else {
    pool.set(w.length, [w]);
  }
}

/** keepWeights: keep the attention weights for naBackwardNative where the addon can (a tape is recording). */
export function naForwardNative(info: NAInfo, query: F32, key: F32, value: F32, rpb: Opt, additionalKeys: Opt,
                                additionalValues: Opt, keepWeights = false): NAForwardResult | null {
  const addon = nattenCpu();
  if (addon == null) {
    return null;
  }
  const rows = info.batch * info.numTokens * info.heads;
  const output = addon.output(rows * info.headDimV), lse = addon.output(rows);
  const g = geometry(info);
  const n = keepWeights ? addon.keptWeightsLength(g) : 0;
  const weights = n > 0 ? takeWeights(addon, n) : null;
  if (addon.naForward(g, info.scale, query, key, value, rpb, additionalKeys, additionalValues, output, lse, weights)) {
    keptWeights.set(lse, {weights: weights!, query, key, value, rpb});
  } else if (weights != null) {
    releaseWeights(weights);
  }
  return {output, lse};
}

/**
 * The weights a forward of these inputs kept for this logsumexp array, or null; taken: the entry is removed, and
 * the caller hands them back (releaseWeights) once the backward has read them.
 */
function takeKeptWeights(lse: F32, query: F32, key: F32, value: F32, rpb: Opt): F32 | null {
  const k = keptWeights.get(lse);
  if (k == null || k.query !== query || k.key !== key || k.value !== value || k.rpb !== rpb) {
    return null;
  }
  keptWeights.delete(lse);
  return k.weights;
}

/** Whether a forward kept weights for this logsumexp array that a backward has not taken yet (for tests). */
export function hasKeptWeights(lse: F32): boolean {
  return keptWeights.has(lse);
}

export function naBackwardNative(info: NAInfo, query: F32, key: F32, value: F32, output: F32, lse: F32, dOutput: F32,
                                 dLse: Opt, rpb: Opt, additionalKeys: Opt, additionalValues: Opt):
    NABackwardResult | null {
  const addon = nattenCpu();
  if (addon == null) {
    return null;
  }
  const r: NABackwardResult = {
    dQuery: addon.output(query.length), dKey: addon.output(key.length), dValue: addon.output(value.length),
    dRpb: outputLike(addon, rpb), dAdditionalKeys: outputLike(addon, additionalKeys),
    dAdditionalValues: outputLike(addon, additionalValues),
  };
  const weights = takeKeptWeights(lse, query, key, value, rpb);
  try {
    addon.naBackward(geometry(info), info.scale, query, key, value, rpb, additionalKeys, additionalValues, output, lse,
                     dOutput, dLse, r.dQuery, r.dKey, r.dValue, r.dRpb, r.dAdditionalKeys, r.dAdditionalValues,
                     weights);
  } finally {
    if (weights != null) {
      releaseWeights(weights);
    }
  }
  return r;
}

export function qkForwardNative(info: NAInfo, query: F32, key: F32, rpb: Opt, additionalKeys: Opt): F32 | null {
  const addon = nattenCpu();
  if (addon == null) {
    return null;
  }
  const logits = addon.output(info.batch * info.numTokens * info.heads * info.numSlots);
  addon.qkForward(geometry(info), info.scale, query, key, rpb, additionalKeys, logits);
  return logits;
}

export function qkBackwardNative(info: NAInfo, dLogits: F32, query: F32, key: F32, additionalKeys: Opt):
    QKBackwardResult | null {
  const addon = nattenCpu();
  if (addon == null) {
    return null;
  }
  const r: QKBackwardResult = {
    dQuery: addon.output(query.length), dKey: addon.output(key.length),
    dRpb: info.hasRpb ? addon.output(info.heads * info.rpbVolume) : null,
    dAdditionalKeys: outputLike(addon, additionalKeys),
  };
  addon.qkBackward(geometry(info), info.scale, query, key, additionalKeys, dLogits, r.dQuery, r.dKey, r.dRpb,
                   r.dAdditionalKeys);
  return r;
}

export function avForwardNative(info: NAInfo, weights: F32, value: F32, additionalValues: Opt): F32 | null {
  const addon = nattenCpu();
  if (addon == null) {
    return null;
  }
  const output = addon.output(info.batch * info.numTokens * info.heads * info.headDimV);
  addon.avForward(geometry(info), weights, value, additionalValues, output);
  return output;
}

export function avBackwardNative(info: NAInfo, dOutput: F32, weights: F32, value: F32, additionalValues: Opt):
    AVBackwardResult | null {
  const addon = nattenCpu();
  if (addon == null) {
    return null;
  }
  const r: AVBackwardResult = {
    dWeights: addon.output(weights.length), dValue: addon.output(value.length),
    dAdditionalValues: outputLike(addon, additionalValues),
  };
  addon.avBackward(geometry(info), weights, value, additionalValues, dOutput, r.dWeights, r.dValue,
                   r.dAdditionalValues);
  return r;
}
