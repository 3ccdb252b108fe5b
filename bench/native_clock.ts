/**
 * The time spent inside natten_cpu's kernel calls (the native CPU kernels), for the bench's kernel columns on
 * `cpu`: the addon's kernel functions are wrapped once with a clock (performance.now around each call), so the
 * bench can take, per timed call, how much of it the kernels took and how much tfjs's own work did.
 */
import {nattenCpu} from '../src/kernels/cpu/na_native';

const KERNELS = ['naForward', 'naBackward', 'qkForward', 'qkBackward', 'avForward', 'avBackward'];

/** Milliseconds spent inside the native kernels since the clock was made. */
export interface KernelClock {
  ms: number;
}

let clock: KernelClock | null | undefined;

/** The process's kernel clock (made on the first call, which wraps the addon's functions); null without the addon. */
export function nativeKernelClock(): KernelClock | null {
  if (clock !== undefined) {
    return clock;
  }
  const addon = nattenCpu() as unknown as Record<string, (...args: unknown[]) => unknown> | null;
  if (addon == null) {
    clock = null;
    return clock;
  }
  const c: KernelClock = {ms: 0};
  for (const name of KERNELS) {
    const f = addon[name];
    addon[name] = (...args: unknown[]) => {
      const t0 = performance.now();
      try {
        return f(...args);
      } finally {
        c.ms += performance.now() - t0;
      }
    };
  }
  clock = c;
  return clock;
}
