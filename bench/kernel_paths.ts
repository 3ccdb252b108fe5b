/**
 * The fused kernels along each of their paths, in the same run, on the host backends (bench.ts prints these
 * as a second table, `--no-paths` skips them):
 *  - `cpu`: native (the natten_cpu addon: threads, AVX2), WebAssembly SIMD (NATTEN_CPU_NATIVE off), the
 *    JavaScript row kernels (NATTEN_CPU_WASM off) and the scalar JavaScript loops (NATTEN_CPU_CODEGEN off);
 *  - `tensorflow`: NA as TensorFlow ops (natten_tf, no host copies), the host kernels through readSync /
 *    write (NATTEN_TF_OPS off; native kernels), and the same with WebAssembly kernels (NATTEN_CPU_NATIVE off
 *    too: the host-copy path before this native work).
 * Each path's effective GFLOP/s is given against the machine's float32 peak: threads x clock x 32 FLOP per
 * cycle (two 256-bit FMA units), the clock measured by a timed chain of dependent adds (natten_cpu).
 * The paths take turns, one forward and one forward+backward each per round, and the medians over the rounds
 * are compared: a load that drifts during the run (a shared machine) then weighs on every path alike.
 */
import * as tf from '@tensorflow/tfjs';
import {NATTEN_CPU_CODEGEN, NATTEN_CPU_NATIVE, NATTEN_CPU_WASM, NATTEN_TF_OPS, nativeStatus} from '../src/index';
import {nattenCpu} from '../src/kernels/cpu/na_native';

export interface Peak {
  threads: number;
  isa: string;
  /** From dependent adds (1 cycle each) and dependent 256-bit FMAs (4 cycles each assumed). */
  addChainGhz: number;
  fmaChainGhz: number;
  /** threads x addChainGhz x 32. */
  gflops: number;
}

/** The native kernels' thread count and row kernels, and the float32 peak; null without natten_cpu. */
export function machinePeak(): Peak | null {
  const addon = nattenCpu();
  if (addon == null) {
    return null;
  }
  const clock = addon.measureClock();
  const threads = addon.numThreads();
  return {threads, isa: addon.isa(), ...clock, gflops: threads * clock.addChainGhz * 32};
}

export interface PathTime {
  path: string;
  fwdMs: number;
  fwdBwdMs: number;
}

export interface PathResult {
  preset: string;
  flops: number;
  paths: PathTime[];
}

/** The flags of each path; the first is the default path. */
function pathsOf(backend: string): Array<{path: string, flags: Record<string, boolean>}> {
  if (backend === 'cpu') {
    return [
      {path: 'native', flags: {}},
      {path: 'webassembly', flags: {[NATTEN_CPU_NATIVE]: false}},
      {path: 'js row kernels', flags: {[NATTEN_CPU_WASM]: false}},
      {path: 'scalar loops', flags: {[NATTEN_CPU_CODEGEN]: false}},
    ];
  }
  if (backend === 'tensorflow') {
    return [
      {path: 'TensorFlow ops', flags: {}},
      {path: 'host kernels (readSync/write)', flags: {[NATTEN_TF_OPS]: false}},
      // The host-copy path as it was before the native kernels: readSync/write around WebAssembly.
      {path: 'host kernels, WebAssembly', flags: {[NATTEN_TF_OPS]: false, [NATTEN_CPU_NATIVE]: false}},
    ];
  }
  return [];
}

const FLAGS = [NATTEN_CPU_CODEGEN, NATTEN_CPU_NATIVE, NATTEN_CPU_WASM, NATTEN_TF_OPS];

async function once(fn: () => tf.Tensor | tf.Tensor[]): Promise<number> {
  const t0 = performance.now();
  const out = fn();
  await Promise.all((Array.isArray(out) ? out : [out]).map(x => x.data()));
  const ms = performance.now() - t0;
  tf.dispose(out);
  return ms;
}

/** The median of `xs` (the upper middle one for an even count). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/**
 * Times the fused forward and forward+backward along every path of `backend`, `rounds` rounds after a warm-up
 * round; null off the host backends.
 */
export async function benchPaths(preset: string, flops: number, backend: string, fwd: () => tf.Tensor | tf.Tensor[],
                                 fwdBwd: () => tf.Tensor | tf.Tensor[], rounds: number): Promise<PathResult | null> {
  const paths = pathsOf(backend);
  if (paths.length === 0) {
    return null;
  }
  const saved = FLAGS.map(f => tf.env().getBool(f));
  const times = paths.map(() => ({fwd: [] as number[], fwdBwd: [] as number[]}));
  try {
    for (let round = -1; round < rounds; round++) {
      for (let i = 0; i < paths.length; i++) {
        FLAGS.forEach((f, j) => tf.env().set(f, saved[j]));
        for (const [f, v] of Object.entries(paths[i].flags)) {
          tf.env().set(f, v);
        }
        const [a, b] = [await once(fwd), await once(fwdBwd)];
        if (round >= 0) {
          times[i].fwd.push(a);
          times[i].fwdBwd.push(b);
        }
      }
    }
  } finally {
    FLAGS.forEach((f, i) => tf.env().set(f, saved[i]));
  }
  return {preset, flops, paths: paths.map((p, i) => ({path: p.path, fwdMs: median(times[i].fwd),
                                                      fwdBwdMs: median(times[i].fwdBwd)}))};
}

/** A line saying which native addons ran, for the bench's header. */
export function nativeSummary(peak: Peak | null, backend: string): string {
  const s = nativeStatus();
  const cpu = peak == null ? `natten_cpu off (${s.cpu.reason})` :
                             `natten_cpu ${peak.isa}, ${peak.threads} threads; clock ${peak.addChainGhz.toFixed(2)} GHz ` +
                             `(dependent adds; FMA chain ${peak.fmaChainGhz.toFixed(2)} GHz), float32 peak ` +
                             `${peak.gflops.toFixed(0)} GFLOP/s (threads x clock x 32)`;
  if (backend !== 'tensorflow') {
    return cpu;
  }
  const tfOps = s.tensorflow.loaded ? `natten_tf ${s.tensorflow.path}` : `natten_tf not in use (${s.tensorflow.reason})`;
  return `${cpu}; ${tfOps}`;
}

export function pathsTable(results: PathResult[], peak: Peak | null): string {
  const header = ['preset', 'path', 'fwd ms', 'GFLOP/s', '% of peak', 'fwd+bwd ms', '(x fwd)', 'fwd: x faster than this path',
                  'fwd+bwd: x faster than this path'];
  const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');
  const rows: string[][] = [];
  for (const r of results) {
    const first = r.paths[0];
    for (const p of r.paths) {
      const gflops = r.flops / (p.fwdMs * 1e6);
      rows.push([
        r.preset, p.path, f(p.fwdMs, 2), f(gflops, 2), peak == null ? '-' : f(100 * gflops / peak.gflops, 1),
        f(p.fwdBwdMs, 2), f(p.fwdBwdMs / p.fwdMs, 2), p === first ? '-' : f(p.fwdMs / first.fwdMs, 1),
        p === first ? '-' : f(p.fwdBwdMs / first.fwdBwdMs, 1),
      ]);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => r[i].length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padStart(widths[i])).join(' | ') + ' |';
  return [line(header), '|' + widths.map(w => '-'.repeat(w + 2)).join('|') + '|', ...rows.map(line)].join('\n');
}
