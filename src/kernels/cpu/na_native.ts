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
  naForward(geometry: Int32Array, scale: number, query: F32, key: F32, value: F32, rpb: Opt, additionalKeys: Opt,
            additionalValues: Opt, output: F32, lse: F32): void;
  naBackward(geometry: Int32Array, scale: number, query: F32, key: F32, value: F32, rpb: Opt, additionalKeys: Opt,
             additionalValues: Opt, output: F32, lse: F32, dOutput: F32, dLse: Opt, dQuery: F32, dKey: F32,
             dValue: F32, dRpb: Opt, dAdditionalKeys: Opt, dAdditionalValues: Opt): void;
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

export function naForwardNative(info: NAInfo, query: F32, key: F32, value: F32, rpb: Opt, additionalKeys: Opt,
                                additionalValues: Opt): NAForwardResult | null {
  const addon = nattenCpu();
  if (addon == null) {
    return null;
  }
  const rows = info.batch * info.numTokens * info.heads;
  const output = addon.output(rows * info.headDimV), lse = addon.output(rows);
  addon.naForward(geometry(info), info.scale, query, key, value, rpb, additionalKeys, additionalValues, output, lse);
  return {output, lse};
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
  addon.naBackward(geometry(info), info.scale, query, key, value, rpb, additionalKeys, additionalValues, output, lse,
                   dOutput, dLse, r.dQuery, r.dKey, r.dValue, r.dRpb, r.dAdditionalKeys, r.dAdditionalValues);
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
