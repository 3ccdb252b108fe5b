/**
 * The CUDA benchmark (GPU machine; scripts/gpu-cuda-check.sh runs it):
 *   node cuda_bench.js [--preset 2d-nat,...] [--json FILE] [--iters N] [--warmup N]
 *                      [--hbm-tbps 4.8] [--tf32-tflops 494.7] [--no-tfjs] [--sweep] [--forward-only]
 *                      [--config N]
 *
 * Kernel time by CUDA events with the data resident on the device (the addon's `benchmark`: random inputs,
 * medians of --iters after --warmup), for the GPU presets, forward and forward+backward, TF32 and float32;
 * each as effective TFLOP/s and as a fraction of the physical floor, the larger of bytes moved over the HBM
 * bandwidth and FLOPs over the TF32 tensor-core peak (both parameters: the H200 datasheet by default; the
 * device-to-device copy bandwidth measured here is printed beside them). Then the per-op time through tfjs on
 * the cpu backend with enableCuda for 2d-nat: wall time of na2d (and of its gradients) split into host-to-
 * device copies, kernels and device-to-host copies (CUDA events of the last call) and the rest (tfjs, readSync).
 *
 * --forward-only: the fused forward alone, TF32 (e.g. under ncu); --config N: its tile configuration N.
 * --sweep: instead, the sweep of the fused forward's tile configurations (bench/cuda_sweep.ts): each checked,
 * then timed, per preset; prints the best.
 *
 * FLOPs: forward 2 * batch * heads * tokens * K * (headDim + headDimV) (QK and AV); forward+backward 3.5 times
 * that (the usual convention: the backward's five products over the forward's two). Bytes: each tensor read
 * or written once (forward: q, k, v, output, logsumexp; backward adds dO, delta, dq, dk, dv).
 */
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import {cudaStatus, disableCuda, enableCuda, na2d} from '../src/index';
import {cudaAddon, CudaProblem} from '../src/kernels/cuda/addon';
import {printSweep, SweepRow, sweepPreset} from './cuda_sweep';
import {formatTable} from './table';
import {naFlops, Preset, PRESETS, tokens} from './presets';

interface Args {
  presets: string[];
  json: string | null;
  iters: number;
  warmup: number;
  hbmTbps: number;
  tf32Tflops: number;
  tfjs: boolean;
  sweep: boolean;
  forwardOnly: boolean;
  config: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = {presets: PRESETS.filter(p => p.gpu).map(p => p.name), json: null, iters: 20, warmup: 3,
                      hbmTbps: 4.8, tf32Tflops: 494.7, tfjs: true, sweep: false, forwardOnly: false,
                      config: -1};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) {
        throw new Error(`cuda_bench: ${a} needs a value`);
      }
      return argv[++i];
    };
    const num = () => {
      const v = Number(value());
      if (!(v > 0)) {
        throw new Error(`cuda_bench: ${a} needs a positive number`);
      }
      return v;
    };
    if (a === '--preset') {
      args.presets = value().split(',');
    } else if (a === '--json') {
      args.json = value();
    } else if (a === '--iters') {
      args.iters = num();
    } else if (a === '--warmup') {
      args.warmup = num();
    } else if (a === '--hbm-tbps') {
      args.hbmTbps = num();
    } else if (a === '--tf32-tflops') {
      args.tf32Tflops = num();
    } else if (a === '--no-tfjs') {
      args.tfjs = false;
    } else if (a === '--sweep') {
      args.sweep = true;
    } else if (a === '--forward-only') {
      args.forwardOnly = true;
      args.tfjs = false;
    } else if (a === '--config') {
      args.config = Number(value());
    } else {
      throw new Error(`cuda_bench: unknown argument ${a}`);
    }
  }
  for (const name of args.presets) {
    if (!PRESETS.some(p => p.name === name)) {
      throw new Error(`cuda_bench: unknown preset ${name}; expected one of ${PRESETS.map(p => p.name).join(', ')}`);
    }
  }
  return args;
}

function problemOf(p: Preset): CudaProblem {
  const pad = (xs: number[]) => [...Array(3 - xs.length).fill(1), ...xs];
  return {
    batch: p.batch, heads: p.heads, headsKv: p.heads, headDim: p.headDim, headDimV: p.headDim, nExtra: 0,
    length: pad(p.spatial), kernel: pad(p.kernelSize), stride: [1, 1, 1], dilation: pad(p.dilation), causal: [0, 0, 0],
    hasRpb: false, scale: 1 / Math.sqrt(p.headDim),
  };
}

/** Bytes each pass must move at the least (float32 elements read or written once). */
function minimumBytes(p: Preset, backward: boolean): number {
  const qkvo = p.batch * tokens(p) * p.heads * p.headDim;  // one of q, k, v, output (same shapes here)
  const rows = p.batch * tokens(p) * p.heads;              // logsumexp, delta
  const forward = 4 * qkvo + rows;
  return 4 * (backward ? forward + 8 * qkvo + 3 * rows : forward);
}

interface KernelResult {
  preset: string;
  precision: 'tf32' | 'float32';
  kernels: string;
  forwardMs: number;
  forwardBackwardMs: number;
  forwardTflops: number;
  forwardBackwardTflops: number;
  forwardFloorMs: number;
  forwardBackwardFloorMs: number;
}

interface TfjsResult {
  preset: string;
  forwardWallMs: number;
  forward: {h2dMs: number, kernelMs: number, d2hMs: number};
  forwardBackwardWallMs: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function tfjsPath(p: Preset, iters: number): Promise<TfjsResult> {
  await tf.setBackend('cpu');
  enableCuda({backend: 'cpu'});
  const shape = [p.batch, ...p.spatial, p.heads, p.headDim];
  const [q, k, v, dOut] = [0, 1, 2, 3].map(() => tf.randomNormal(shape));
  const options = {kernelSize: p.kernelSize, dilation: p.dilation};
  const addon = cudaAddon();
  const fwd: number[] = [], fwdBwd: number[] = [];
  const parts: Array<{h2dMs: number, kernelMs: number, d2hMs: number}> = [];
  for (let i = 0; i < iters + 2; i++) {
    let t0 = performance.now();
    const out = na2d(q, k, v, options) as tf.Tensor;
    out.dataSync();
    const ms = performance.now() - t0;
    const part = addon.lastTiming();
    out.dispose();
    t0 = performance.now();
    const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => na2d(a, b, c, options) as tf.Tensor)([q, k, v],
                                                                                                          dOut);
    grads.forEach(g => g.dataSync());
    const msBwd = performance.now() - t0;
    tf.dispose(grads);
    if (i >= 2) {
      fwd.push(ms);
      fwdBwd.push(msBwd);
      parts.push(part);
    }
  }
  tf.dispose([q, k, v, dOut]);
  disableCuda({backend: 'cpu'});
  return {
    preset: p.name, forwardWallMs: median(fwd), forwardBackwardWallMs: median(fwdBwd),
    forward: {h2dMs: median(parts.map(x => x.h2dMs)), kernelMs: median(parts.map(x => x.kernelMs)),
              d2hMs: median(parts.map(x => x.d2hMs))},
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const status = cudaStatus();
  if (!status.available) {
    throw new Error(`cuda_bench: CUDA is unavailable: ${status.reason}`);
  }
  const addon = cudaAddon();
  const d = status.device!;
  const copy = addon.copyBandwidth(2 ** 31, 10) / 1e12;
  console.log(`cuda_bench: ${d.name} (sm ${d.computeCapability}, ${d.multiprocessors} SMs, ${
      (d.totalMemory / 2 ** 30).toFixed(0)} GiB), driver ${d.driverVersion}, runtime ${d.runtimeVersion}, addon built for ${
      addon.buildInfo.archs}; device copy ${copy.toFixed(2)} TB/s (read + write); floor parameters ${args.hbmTbps} TB/s, ${
      args.tf32Tflops} TF32 TFLOP/s`);
  if (args.sweep) {
    const rows: SweepRow[] = [];
    for (const p of PRESETS.filter(x => args.presets.includes(x.name))) {
      rows.push(...sweepPreset(p, problemOf(p), args.iters, args.warmup, 7));
    }
    printSweep(rows);
    if (args.json != null) {
      fs.writeFileSync(args.json, JSON.stringify({device: d, addonArchs: addon.buildInfo.archs, iters: args.iters,
                                                  warmup: args.warmup, sweep: rows}, null, 2));
    }
    return;
  }
  const results: KernelResult[] = [];
  for (const p of PRESETS.filter(x => args.presets.includes(x.name))) {
    for (const precision of args.forwardOnly ? ['tf32' as const] : ['tf32', 'float32'] as const) {
      const r = addon.benchmark(problemOf(p), {precision, warmup: args.warmup, iters: args.iters,
                                               forwardOnly: args.forwardOnly,
                                               ...(args.config >= 0 ? {forwardConfig: args.config} : {})});
      const flops = naFlops(p);
      const floor = (bytes: number, f: number) => Math.max(bytes / (args.hbmTbps * 1e12), f / (args.tf32Tflops * 1e12)) * 1e3;
      results.push({
        preset: p.name, precision, kernels: r.kernels, forwardMs: r.forwardMs, forwardBackwardMs: r.forwardBackwardMs,
        forwardTflops: flops / (r.forwardMs * 1e9), forwardBackwardTflops: 3.5 * flops / (r.forwardBackwardMs * 1e9),
        forwardFloorMs: floor(minimumBytes(p, false), flops), forwardBackwardFloorMs: floor(minimumBytes(p, true), 3.5 * flops),
      });
      console.log(`${p.name} ${precision}: forward ${r.forwardMs.toFixed(3)} ms, forward+backward ${
          r.forwardBackwardMs.toFixed(3)} ms [${r.kernels}]`);
    }
  }
  const f = (x: number, digits = 2) => x.toFixed(digits);
  console.log('\nKernel time (CUDA events, data on the device, medians):');
  console.log(formatTable(
      ['preset', 'precision', 'fwd ms', 'fwd TFLOP/s', 'fwd / floor', 'fwd+bwd ms', 'fwd+bwd TFLOP/s', 'fwd+bwd / floor'],
      results.map(r => [r.preset, r.precision, f(r.forwardMs, 3), f(r.forwardTflops, 1), f(r.forwardFloorMs / r.forwardMs, 3),
                        f(r.forwardBackwardMs, 3), f(r.forwardBackwardTflops, 1),
                        f(r.forwardBackwardFloorMs / r.forwardBackwardMs, 3)])));
  const tfjs: TfjsResult[] = [];
  if (args.tfjs) {
    for (const p of PRESETS.filter(x => x.name === '2d-nat' && args.presets.includes(x.name))) {
      tfjs.push(await tfjsPath(p, Math.min(args.iters, 10)));
    }
    console.log('\nThrough tfjs (cpu backend, enableCuda; host copies included; medians):');
    console.log(formatTable(
        ['preset', 'na2d wall ms', 'h2d ms', 'kernel ms', 'd2h ms', 'rest ms', 'fwd+bwd wall ms'],
        tfjs.map(r => [r.preset, f(r.forwardWallMs), f(r.forward.h2dMs), f(r.forward.kernelMs), f(r.forward.d2hMs),
                       f(r.forwardWallMs - r.forward.h2dMs - r.forward.kernelMs - r.forward.d2hMs),
                       f(r.forwardBackwardWallMs)])));
  }
  if (args.json != null) {
    fs.writeFileSync(args.json, JSON.stringify({
      device: d, addonArchs: addon.buildInfo.archs, copyTbps: copy, hbmTbps: args.hbmTbps, tf32Tflops: args.tf32Tflops,
      iters: args.iters, warmup: args.warmup, kernels: results, tfjs,
    }, null, 2));
  }
}

main().catch(e => {
  console.error(e);
  process.exit(1);
});
