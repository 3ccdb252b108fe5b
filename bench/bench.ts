/**
 * npm run bench -- [--backend cpu] [--preset 2d,3d] [--json FILE] [--quick]
 * (default presets: all, except the GPU-sized ones on the host backends cpu and tensorflow)
 *
 * Per preset, measured in the same run on the same backend: the fused forward, fused forward+backward
 * (gradients w.r.t. query, key and value for a given upstream gradient), the composed fallback (forward, forward+backward), and full
 * self-attention (matMul + softmax + matMul) forward. Medians; ratios and effective GFLOP/s
 * (`4 * batch * heads * tokens * K * dim / seconds`). Also the tensor memory the fused forward allocates.
 * On the host backends (cpu, tensorflow) the fused kernels run as WebAssembly SIMD; the same run also
 * times them as JavaScript row kernels (NATTEN_CPU_WASM off) and reports the WebAssembly memory they keep.
 */
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as os from 'os';
import {na1d, na2d, na3d, NATTEN_CPU_WASM, NATTEN_FORCE_COMPOSED, NAOptions} from '../src/index';
import {HOST_BACKENDS} from '../src/kernels/cpu/host_util';
import {naWasmMemoryBytes} from '../src/kernels/cpu/na_wasm';
import {naFlops, Preset, PRESETS, tokens} from './presets';
import {formatTable} from './table';

interface Args {
  backend: string;
  presets: string[];
  json: string | null;
  quick: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = {backend: 'cpu', presets: [], json: null, quick: false};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) {
        throw new Error(`bench: ${a} needs a value`);
      }
      return argv[++i];
    };
    if (a === '--backend') {
      args.backend = value();
    } else if (a === '--preset') {
      args.presets = value().split(',');
    } else if (a === '--json') {
      args.json = value();
    } else if (a === '--quick') {
      args.quick = true;
    } else {
      throw new Error(`bench: unknown argument ${a}; expected --backend, --preset, --json, --quick`);
    }
  }
  if (args.presets.length === 0) {
    // The GPU-sized presets take minutes per baseline on a host backend: there they run only when named.
    const host = (HOST_BACKENDS as readonly string[]).includes(args.backend);
    args.presets = PRESETS.filter(p => !(host && p.gpu)).map(p => p.name);
  }
  for (const name of args.presets) {
    if (!PRESETS.some(p => p.name === name)) {
      throw new Error(`bench: unknown preset ${name}; expected one of ${PRESETS.map(p => p.name).join(', ')}`);
    }
  }
  return args;
}

async function sync(t: tf.Tensor | tf.Tensor[]): Promise<void> {
  await Promise.all((Array.isArray(t) ? t : [t]).map(x => x.data()));
}

/**
 * Median wall time (ms) of `fn`, after a warm-up; fewer repetitions for slow ones (a warm-up that alone
 * exceeds the budget is the measurement: the slow baselines take tens of seconds).
 */
async function time(fn: () => tf.Tensor | tf.Tensor[], budgetMs: number, maxReps: number): Promise<number> {
  const warm = performance.now();
  tf.dispose(await run(fn));
  const first = performance.now() - warm;
  if (first > budgetMs) {
    return first;
  }
  const reps = Math.max(1, Math.min(maxReps, Math.floor(budgetMs / Math.max(first, 1e-3))));
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    tf.dispose(await run(fn));
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

async function run(fn: () => tf.Tensor | tf.Tensor[]): Promise<tf.Tensor | tf.Tensor[]> {
  const out = fn();
  await sync(out);
  return out;
}

const OPS = [na1d, na2d, na3d];

interface Result {
  preset: string;
  backend: string;
  fusedFwdMs: number;
  fusedFwdBwdMs: number;
  composedFwdMs: number;
  composedFwdBwdMs: number;
  fullAttnFwdMs: number;
  fusedFwdGflops: number;
  fusedFwdAllocatedBytes: number;
  outputAndLseBytes: number;
  /** Host backends only: the fused kernels as JS row kernels, and the WebAssembly memory kept. */
  jsFwdMs: number | null;
  jsFwdBwdMs: number | null;
  wasmMemoryBytes: number | null;
}


async function benchPreset(p: Preset, backend: string, quick: boolean): Promise<Result> {
  const shape = [p.batch, ...p.spatial, p.heads, p.headDim];
  const q = tf.randomNormal(shape), k = tf.randomNormal(shape), v = tf.randomNormal(shape);
  const options: NAOptions = {kernelSize: p.kernelSize, dilation: p.dilation};
  const op = OPS[p.spatial.length - 1];
  const fwd = () => op(q, k, v, options);
  // The upstream gradient is given (not the gradient of a tf.sum): on cpu, Sum's gradient is a broadcast
  // multiply by ones that alone takes longer than a third of the NA forward.
  const dOut = tf.randomNormal(shape);
  const fwdBwd = () => tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => op(a, b, c, options))([q, k, v], dOut);
  const budget = quick ? 500 : 3000, reps = quick ? 3 : 15;

  const fusedFwdMs = await time(fwd, budget, reps);
  const fusedFwdBwdMs = await time(fwdBwd, budget, reps);

  // Tensor memory held right after the fused forward: its output and logsumexp, nothing of size K.
  const before = tf.memory().numBytes;
  const [o, l] = op(q, k, v, {...options, returnLse: true});
  await sync([o, l]);
  const fusedFwdAllocatedBytes = tf.memory().numBytes - before;
  const outputAndLseBytes = 4 * (o.size + l.size);
  tf.dispose([o, l]);

  let jsFwdMs: number | null = null, jsFwdBwdMs: number | null = null, wasmMemoryBytes: number | null = null;
  if ((HOST_BACKENDS as readonly string[]).includes(backend)) {
    wasmMemoryBytes = naWasmMemoryBytes();
    tf.env().set(NATTEN_CPU_WASM, false);
    jsFwdMs = await time(fwd, budget, reps);
    jsFwdBwdMs = await time(fwdBwd, budget, reps);
    tf.env().set(NATTEN_CPU_WASM, true);
  }

  tf.env().set(NATTEN_FORCE_COMPOSED, true);
  const composedFwdMs = await time(fwd, budget, quick ? 1 : 3);
  const composedFwdBwdMs = await time(fwdBwd, budget, quick ? 1 : 3);
  tf.env().set(NATTEN_FORCE_COMPOSED, false);

  // Full self-attention over all tokens: [B*H, N, D] x [B*H, D, N], softmax, x [B*H, N, D].
  const N = tokens(p);
  const heads = (x: tf.Tensor) => tf.reshape(tf.transpose(tf.reshape(x, [p.batch, N, p.heads, p.headDim]), [0, 2, 1, 3]),
                                             [p.batch * p.heads, N, p.headDim]);
  const [qh, kh, vh] = [q, k, v].map(heads);
  const full = () => tf.tidy(() => tf.matMul(tf.softmax(tf.mul(tf.matMul(qh, kh, false, true), 1 / Math.sqrt(p.headDim))), vh));
  const fullAttnFwdMs = await time(full, budget, quick ? 1 : 3);

  tf.dispose([q, k, v, dOut, qh, kh, vh]);
  return {
    preset: p.name, backend, fusedFwdMs, fusedFwdBwdMs, composedFwdMs, composedFwdBwdMs, fullAttnFwdMs,
    fusedFwdGflops: naFlops(p) / (fusedFwdMs * 1e6), fusedFwdAllocatedBytes, outputAndLseBytes, jsFwdMs, jsFwdBwdMs,
    wasmMemoryBytes,
  };
}

function table(results: Result[]): string {
  const header = ['preset', 'fused fwd ms', 'GFLOP/s', 'fused fwd+bwd ms', '(x fwd)', 'composed fwd ms', '(x fused)',
                  'composed fwd+bwd ms', '(x fused)', 'full attn fwd ms', '(x fused)', 'fwd alloc / (out+lse)',
                  'js fwd ms', 'js fwd+bwd ms', 'wasm MiB kept'];
  const f = (x: number | null, d = 1) => x == null ? '-' : x.toFixed(d);
  const rows = results.map(r => [
    r.preset, f(r.fusedFwdMs), f(r.fusedFwdGflops, 2), f(r.fusedFwdBwdMs), f(r.fusedFwdBwdMs / r.fusedFwdMs, 2),
    f(r.composedFwdMs), f(r.composedFwdMs / r.fusedFwdMs), f(r.composedFwdBwdMs), f(r.composedFwdBwdMs / r.fusedFwdBwdMs),
    f(r.fullAttnFwdMs), f(r.fullAttnFwdMs / r.fusedFwdMs), f(r.fusedFwdAllocatedBytes / r.outputAndLseBytes, 2),
    f(r.jsFwdMs), f(r.jsFwdBwdMs), f(r.wasmMemoryBytes == null ? null : r.wasmMemoryBytes / 2 ** 20),
  ]);
  return formatTable(header, rows);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.backend === 'tensorflow') {
    require('@tensorflow/tfjs-node');
  }
  if (!(await tf.setBackend(args.backend))) {
    throw new Error(`bench: backend ${args.backend} is not available`);
  }
  await tf.ready();
  const cpu = os.cpus();
  console.log(`tfjs-natten bench: backend ${tf.getBackend()}, ${cpu.length} x ${cpu[0]?.model ?? 'unknown CPU'}, node ${
      process.version}`);
  const results: Result[] = [];
  for (const p of PRESETS.filter(x => args.presets.includes(x.name))) {
    const r = await benchPreset(p, args.backend, args.quick);
    results.push(r);
    console.log(`${p.name}: done (fused fwd ${r.fusedFwdMs.toFixed(1)} ms)`);
  }
  console.log('\n' + table(results));
  if (args.json) {
    const rows = results.map(r => ({
      preset: r.preset, backend: r.backend, fusedFwdMs: r.fusedFwdMs, fusedFwdBwdMs: r.fusedFwdBwdMs,
      composedFwdMs: r.composedFwdMs, composedFwdBwdMs: r.composedFwdBwdMs, fullAttnFwdMs: r.fullAttnFwdMs,
    }));
    fs.writeFileSync(args.json, JSON.stringify(rows, null, 2) + '\n');
    console.log(`wrote ${args.json}`);
  }
}

main().catch(e => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
