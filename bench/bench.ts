/**
 * npm run bench -- [--backend cpu] [--preset 2d,3d] [--json FILE] [--quick] [--no-paths]
 * (default presets: all, except the GPU-sized ones on the host backends cpu and tensorflow)
 *
 * Per preset, measured in the same run on the same backend: the fused forward, fused forward+backward
 * (gradients w.r.t. query, key and value for a given upstream gradient), the composed fallback (forward, forward+backward), and full
 * self-attention (matMul + softmax + matMul) forward and forward+backward. Medians; ratios and effective GFLOP/s
 * (`4 * batch * heads * tokens * K * dim / seconds`). Also the tensor memory the fused forward allocates.
 * On the host backends the fused pair is timed in turns (timeInTurns), then the baselines (in turns where fast enough).
 * On the host backends the fused kernels run natively on cpu (natten_cpu) and as TensorFlow ops on tensorflow
 * (natten_tf); the same run also times them as JavaScript row kernels (NATTEN_CPU_WASM off), reports the
 * WebAssembly memory kept, and what readSync/write calls cost inside the fused times (bench/host_copies.ts).
 * `--backend tensorflow` runs tfjs-node-gpu (set up by `npm run setup:tfjs-node`): the composed fallback and
 * full attention then run on TensorFlow's own ops.
 * A second table times the fused kernels along each of their paths in the same run (bench/kernel_paths.ts:
 * native, WebAssembly, JavaScript row kernels, scalar loops on cpu; TensorFlow ops and host kernels on
 * tensorflow) against the machine's float32 peak; `--no-paths` skips it.
 *
 * `--backend webgpu` runs in Node through Dawn (test/webgpu_node.ts: NATTEN_DAWN_NODE, NATTEN_DAWN_FLAGS,
 * VK_ICD_FILENAMES, NATTEN_VULKAN_LOADER). There the inputs stay on the GPU and each measurement, after a warm-up
 * of at least 300 ms (the GPU's clock follows its load), times pairs of batches of n and 2n calls, each closed by
 * a one-element readback of the last result (the queue runs in order): the median over the pairs of their time
 * less the readback's latency, over 3n; per call GPU time plus tfjs's dispatch overhead, with no transfers
 * (bench/gpu_time.ts). A baseline that cannot run is reported as failed, with why.
 *
 * Each preset runs in a fresh Node process (this script, re-run with one preset), and inside it the fused calls
 * are timed before any baseline runs, so that no baseline's one-off memory (gigabytes of GPU buffers and thousands
 * of pipelines on webgpu; on the host backends hundreds of megabytes of tensors, after which V8 keeps collecting
 * its old space every few dozen milliseconds) is around while the fused calls are timed.
 */
import * as tf from '@tensorflow/tfjs';
import {spawnSync} from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {na1d, na2d, na3d, NATTEN_CPU_WASM, NATTEN_FORCE_COMPOSED, NAOptions} from '../src/index';
import {HOST_BACKENDS} from '../src/kernels/cpu/host_util';
import {naWasmMemoryBytes} from '../src/kernels/cpu/na_wasm';
import {HostCopies, measureHostCopies, measureUpload} from './host_copies';
import {benchPaths, machinePeak, median, nativeSummary, PathResult, pathsTable} from './kernel_paths';
import {naFlops, Preset, PRESETS, tokens} from './presets';
import {KernelClock, nativeKernelClock} from './native_clock';
import {formatTable} from './table';
import {timeGpuDetailed} from './gpu_time';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const {loadTfjsNode} = require('../scripts/tfjs-node-env') as {loadTfjsNode(): unknown};

interface Args {
  backend: string;
  presets: string[];
  json: string | null;
  quick: boolean;
  paths: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = {backend: 'cpu', presets: [], json: null, quick: false, paths: true};
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
    } else if (a === '--no-paths') {
      args.paths = false;
    } else {
      throw new Error(`bench: unknown argument ${a}; expected --backend, --preset, --json, --quick, --no-paths`);
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

/** The backend's kernel time of the last GPU measurement (timestamp queries), or null. */
let lastGpuKernelMs: number | null = null;

/**
 * Median wall time (ms) of `fn`, after a warm-up; fewer repetitions for slow ones (a warm-up that alone
 * exceeds the budget is the measurement: the slow baselines take tens of seconds). On a GPU backend,
 * bench/gpu_time.ts's timing instead (it also sets lastGpuKernelMs).
 */
async function time(fn: () => tf.Tensor | tf.Tensor[], budgetMs: number, maxReps: number): Promise<number> {
  lastGpuKernelMs = null;
  const gpu = !(HOST_BACKENDS as readonly string[]).includes(tf.getBackend());
  if (gpu) {
    const t = await timeGpuDetailed(fn, budgetMs);
    lastGpuKernelMs = t.kernelMs;
    const how = t.pairs === 0 ?
        'one call alone (over the budget)' :
        `${t.pairs} pair(s) of ${t.n} and ${2 * t.n} calls, after ${t.warmMs.toFixed(0)} ms of warm-up (its last ` +
            `batch ${t.warmPerCallMs.toFixed(3)} ms per call); a readback alone ${t.syncMs.toFixed(3)} ms`;
    const kernel = t.kernelMs == null ? '' : `; the backend's kernel time ${t.kernelMs.toFixed(3)} ms`;
    console.error(`  gpu timing: ${t.perCallMs.toFixed(3)} ms per call from ${how}${kernel}`);
    return t.perCallMs;
  }
  const start = performance.now();
  tf.dispose(await run(fn));
  const first = performance.now() - start;
  return first > budgetMs ? first : timeAfterFirst(fn, start, first, budgetMs, maxReps);
}

/**
 * More warm-up after a first call that began at `start`: calls until a tenth of the budget has passed (at most
 * 200 more). Returns the calls made in all, the first included. A process's first calls run slower: the fused
 * forward on tensorflow (2d) took 3.0-3.3 ms per call for its first 45 calls or so, then 2.0-2.3 (likely V8
 * optimizing the JavaScript around the kernels); with one warm-up call the fused forward+backward read 9.6-10.8 ms
 * where the same calls timed later in the process read 7.3-8.6.
 */
async function warmUp(fn: () => tf.Tensor | tf.Tensor[], start: number, budgetMs: number): Promise<number> {
  let calls = 1;
  for (; calls <= 200 && performance.now() - start < budgetMs / 10; calls++) {
    tf.dispose(await run(fn));
  }
  return calls;
}

/** Host backends: time()'s median after its first call (which took `first` ms, from `start`), warm-up included. */
async function timeAfterFirst(fn: () => tf.Tensor | tf.Tensor[], start: number, first: number, budgetMs: number,
                              maxReps: number): Promise<number> {
  await warmUp(fn, start, budgetMs);
  const reps = Math.max(1, Math.min(maxReps, Math.floor(budgetMs / Math.max(first, 1e-3))));
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    tf.dispose(await run(fn));
    times.push(performance.now() - t0);
  }
  return median(times);
}

/** The first line of a thrown value's message (a baseline's failure, for the table's notes). */
function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0];
}

/** A function to time in turns with others (timeInTurns), and its name for the failures. */
interface Turn {
  name: string;
  fn: () => tf.Tensor | tf.Tensor[];
}

/**
 * Host backends: the median wall time (ms) per call of each function, timed in turns so that every one of them
 * sees the same stretches of the machine's speed. On the shared 2-core machine the speed drifts by up to 1.5x for
 * seconds at a time with no sign in the guest (no steal time: bench/RESULTS.md); timed one after the other, a
 * fused time and its baseline could fall into different stretches and their ratio moved with them.
 * Each function is warmed up as time() does (warmUp). A function whose first call alone takes more than a tenth
 * of the budget is not turned with the others: that call is its time if over the budget, else time() goes on
 * timing it alone (timeAfterFirst). The others take turns of about TURN_MS each (at least one call),
 * round after round, until each has had about its budget, at least MIN_ROUNDS rounds; each call is one sample.
 * A function that throws gets NaN and its message in `failures`. With a `clock` (cpu: nativeKernelClock), also
 * the median time per call inside the native kernels over the same samples (`kernel`; NaN where not in turns).
 */
const TURN_MS = 40, MIN_ROUNDS = 5;

async function timeInTurns(turns: Turn[], budgetMs: number, failures: Record<string, string>,
                           clock: KernelClock | null = null): Promise<{wall: number[], kernel: number[]}> {
  const result = turns.map(() => NaN);
  const kernel = turns.map(() => NaN);
  const inTurns: number[] = [];
  const perCall: number[] = [];
  for (let i = 0; i < turns.length; i++) {
    try {
      const start = performance.now();
      tf.dispose(await run(turns[i].fn));
      const first = performance.now() - start;
      if (first > budgetMs / 10) {
        result[i] = first > budgetMs ? first : await timeAfterFirst(turns[i].fn, start, first, budgetMs, 3);
        continue;
      }
      const calls = await warmUp(turns[i].fn, start, budgetMs);
      inTurns.push(i);
      perCall.push((performance.now() - start) / calls);
    } catch (e) {
      failures[turns[i].name] = firstLine(e);
    }
  }
  const samples = inTurns.map(() => [] as number[]);
  const kernelSamples = inTurns.map(() => [] as number[]);
  const callsPerTurn = perCall.map(ms => Math.max(1, Math.round(TURN_MS / ms)));
  const spent = inTurns.map(() => 0);
  for (let round = 0; round < MIN_ROUNDS || spent.some(ms => ms < budgetMs); round++) {
    for (let j = 0; j < inTurns.length; j++) {
      for (let c = 0; c < callsPerTurn[j]; c++) {
        const k0 = clock?.ms ?? 0;
        const t0 = performance.now();
        tf.dispose(await run(turns[inTurns[j]].fn));
        const ms = performance.now() - t0;
        samples[j].push(ms);
        kernelSamples[j].push((clock?.ms ?? 0) - k0);
        spent[j] += ms;
      }
    }
  }
  inTurns.forEach((i, j) => {
    result[i] = median(samples[j]);
    if (clock != null) {
      kernel[i] = median(kernelSamples[j]);
    }
  });
  return {wall: result, kernel};
}

async function run(fn: () => tf.Tensor | tf.Tensor[]): Promise<tf.Tensor | tf.Tensor[]> {
  const out = fn();
  await sync(out);
  return out;
}

const OPS = [na1d, na2d, na3d];

/**
 * GPU memory the baselines (composed fallback, full attention) may take, in bytes: tfjs's own ops allocate
 * without checking the device's memory, and a webgpu device that runs out of it fails every later call.
 */
const GPU_BASELINE_BUDGET = 24 * 2 ** 30;

/**
 * Frees the GPU buffers tfjs's webgpu backend keeps for reuse (its BufferManager pools every released buffer
 * by size and never gives them back): after the baselines' large one-off tensors, so the next preset's calls
 * find the device's memory free. No-op on other backends.
 */
function releasePooledGpuBuffers(): void {
  const manager = (tf.backend() as unknown as {bufferManager?: {freeBuffers: Map<string, Array<{size: number,
    destroy(): void}>>, numFreeBuffers: number, numBytesAllocated: number}}).bufferManager;
  if (manager == null) {
    return;
  }
  for (const list of manager.freeBuffers.values()) {
    for (const buffer of list) {
      manager.numBytesAllocated -= buffer.size;
      buffer.destroy();
    }
    list.length = 0;  // the map keeps its keys: an empty map means a disposed manager to tfjs
  }
  manager.numFreeBuffers = 0;
}

/** The largest buffer the active backend can bind (webgpu), or Infinity. */
function bindingLimit(): number {
  const limits = (tf.backend() as unknown as {device?: {limits: Record<string, number>}}).device?.limits;
  return limits == null ? Infinity : Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
}

interface Result {
  preset: string;
  backend: string;
  fusedFwdMs: number;
  fusedFwdBwdMs: number;
  /**
   * GPU backends with timestamp queries: the backend's own kernel time of one fused call (tf.time's kernelMs,
   * median of three), beside the batch times above, which also hold tfjs's work per call on the host. On cpu: the
   * median time per call inside the native kernels, over the same calls as the times above (nativeKernelClock).
   */
  fusedFwdKernelMs: number | null;
  fusedFwdBwdKernelMs: number | null;
  composedFwdMs: number;
  composedFwdBwdMs: number;
  fullAttnFwdMs: number;
  fullAttnFwdBwdMs: number;
  fusedFwdGflops: number;
  fusedFwdAllocatedBytes: number;
  outputAndLseBytes: number;
  /** Baselines that could not run (composed, full attention), with the reason; their times are NaN. */
  failures: Record<string, string>;
  /** Host backends only: the fused kernels as JS row kernels, and the WebAssembly memory kept. */
  jsFwdMs: number | null;
  jsFwdBwdMs: number | null;
  wasmMemoryBytes: number | null;
  /** Host backends only: readSync/write inside the NA kernels, per fused forward and forward+backward. */
  fwdCopies: HostCopies | null;
  fwdBwdCopies: HostCopies | null;
  /** tensorflow only: TensorFlow copying in the forward's output and logsumexp when an op of its first reads them. */
  uploadMs: number | null;
  /** Host backends: the fused kernels along each path (bench/kernel_paths.ts). */
  paths: PathResult | null;
}


async function benchPreset(p: Preset, backend: string, quick: boolean, withPaths: boolean): Promise<Result> {
  const shape = [p.batch, ...p.spatial, p.heads, p.headDim];
  // Inputs as the backend's own ops leave them (tf.randomNormal's values are written from JavaScript; on
  // tensorflow a TensorFlow op's output lives in TensorFlow, and the host kernels' readSync copies it out).
  const input = () => tf.tidy(() => tf.mul(tf.randomNormal(shape), 1));
  const q = input(), k = input(), v = input();
  const options: NAOptions = {kernelSize: p.kernelSize, dilation: p.dilation};
  const op = OPS[p.spatial.length - 1];
  const fwd = () => op(q, k, v, options);
  // The upstream gradient is given (not the gradient of a tf.sum): on cpu, Sum's gradient is a broadcast
  // multiply by ones that alone takes longer than a third of the NA forward.
  const dOut = input();
  const fwdBwd = () => tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => op(a, b, c, options))([q, k, v], dOut);
  const budget = quick ? 500 : 3000, reps = quick ? 3 : 15;
  const host = (HOST_BACKENDS as readonly string[]).includes(backend);
  const failures: Record<string, string> = {};

  // The composed fallback: the same calls with NATTEN_FORCE_COMPOSED set while they run (on the host backends the
  // kernels run inside the call).
  const composedOf = (f: () => tf.Tensor | tf.Tensor[]) => () => {
    tf.env().set(NATTEN_FORCE_COMPOSED, true);
    try {
      return f();
    } finally {
      tf.env().set(NATTEN_FORCE_COMPOSED, false);
    }
  };
  // Full self-attention over all tokens: [B*H, N, D] x [B*H, D, N], softmax, x [B*H, N, D].
  const N = tokens(p);
  const heads = (x: tf.Tensor) => tf.reshape(tf.transpose(tf.reshape(x, [p.batch, N, p.heads, p.headDim]), [0, 2, 1, 3]),
                                             [p.batch * p.heads, N, p.headDim]);
  const [qh, kh, vh] = [q, k, v].map(heads);
  const attention = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
      tf.matMul(tf.softmax(tf.mul(tf.matMul(a, b, false, true), 1 / Math.sqrt(p.headDim))), c);
  const full = () => tf.tidy(() => attention(qh, kh, vh));
  const dOutHeads = heads(dOut);
  const fullFwdBwd = () => tf.grads(attention)([qh, kh, vh], dOutHeads);

  // Host backends: the fused pair in turns with each other (timeInTurns), before anything else of the preset runs;
  // then the baselines, those fast enough for it in turns with each other, the slow ones (over a tenth of the
  // budget per call) alone. The fused pair goes first because the baselines' one-off tensors (full attention's
  // scores alone are hundreds of megabytes on cpu) leave V8 running a mark-compact every few dozen milliseconds
  // for as long as the process lives (its old-space limit set close to the live heap, and the marking threads
  // sharing the cores with the kernels' pool): in a probe the same forward+backward calls then spent 12-20% longer
  // in the kernels, the forward less (bench/RESULTS.md, session of 2026-12-02). Each preset runs in its own process
  // for the same reason (main). On cpu, also the time inside the native kernels over the same calls
  // (nativeKernelClock).
  const clock = backend === 'cpu' ? nativeKernelClock() : null;
  const fused = host ? await timeInTurns([{name: 'fused fwd', fn: fwd}, {name: 'fused fwd+bwd', fn: fwdBwd}], budget,
                                         failures, clock) : null;
  for (const name of ['fused fwd', 'fused fwd+bwd']) {
    if (failures[name] != null) {
      throw new Error(`bench: ${p.name}: the ${name} failed: ${failures[name]}`);
    }
  }
  // A kernel time of 0: the native kernels did not run (no addon path for this call).
  const kernelMs = (i: number) => {
    const k = fused?.kernel[i] ?? NaN;
    return Number.isFinite(k) && k > 0 ? k : null;
  };
  const fusedFwdMs = fused != null ? fused.wall[0] : await time(fwd, budget, reps);
  const fusedFwdKernelMs = fused != null ? kernelMs(0) : lastGpuKernelMs;
  const fusedFwdBwdMs = fused != null ? fused.wall[1] : await time(fwdBwd, budget, reps);
  const fusedFwdBwdKernelMs = fused != null ? kernelMs(1) : lastGpuKernelMs;
  const paths = withPaths ? await benchPaths(p.name, naFlops(p), backend, fwd, fwdBwd, quick ? 3 : 9) : null;

  // Tensor memory held right after the fused forward: its output and logsumexp, nothing of size K.
  const before = tf.memory().numBytes;
  const [o, l] = op(q, k, v, {...options, returnLse: true});
  await sync([o, l]);
  const fusedFwdAllocatedBytes = tf.memory().numBytes - before;
  const outputAndLseBytes = 4 * (o.size + l.size);
  tf.dispose([o, l]);

  let jsFwdMs: number | null = null, jsFwdBwdMs: number | null = null, wasmMemoryBytes: number | null = null;
  let fwdCopies: HostCopies | null = null, fwdBwdCopies: HostCopies | null = null, uploadMs: number | null = null;
  if (host) {
    wasmMemoryBytes = naWasmMemoryBytes();
    const copyReps = quick ? 2 : 5;
    fwdCopies = await measureHostCopies(fwd, copyReps);
    fwdBwdCopies = await measureHostCopies(fwdBwd, copyReps);
    uploadMs = await measureUpload(() => op(q, k, v, {...options, returnLse: true}) as unknown as tf.Tensor[], copyReps);
    tf.env().set(NATTEN_CPU_WASM, false);
    jsFwdMs = await time(fwd, budget, reps);
    jsFwdBwdMs = await time(fwdBwd, budget, reps);
    tf.env().set(NATTEN_CPU_WASM, true);
  }

  // The baselines, last (see above): indices 0-3 of `inTurns`.
  const inTurns = host ? (await timeInTurns([
    {name: 'composed fwd', fn: composedOf(fwd)}, {name: 'composed fwd+bwd', fn: composedOf(fwdBwd)},
    {name: 'full attention fwd', fn: full}, {name: 'full attention fwd+bwd', fn: fullFwdBwd},
  ], budget, failures)).wall : null;
  const attempt = async (name: string, f: () => Promise<number>): Promise<number> => {
    try {
      return await f();
    } catch (e) {
      failures[name] = firstLine(e);
      return NaN;
    }
  };
  // The composed fallback gathers each query's neighborhood of keys and of values ([..., K, heads, dim] each)
  // and keeps logits and weights of [..., heads, K]; its backward holds about as much again.
  const K = p.kernelSize.reduce((a, b) => a * b, 1);
  const composedBytes = 4 * p.batch * tokens(p) * K * p.heads * (2 * p.headDim + 3);
  const overBudget = (name: string, bytes: number) => {
    failures[name] = `needs about ${(bytes / 2 ** 30).toFixed(1)} GiB of GPU memory, over the bench's budget of ${
        GPU_BASELINE_BUDGET / 2 ** 30} GiB for baselines`;
    return NaN;
  };
  const composedFwdMs = inTurns != null ? inTurns[0] : composedBytes > GPU_BASELINE_BUDGET ?
      overBudget('composed fwd', composedBytes) :
      await attempt('composed fwd', () => time(composedOf(fwd), budget, quick ? 1 : 3));
  const composedFwdBwdMs = inTurns != null ? inTurns[1] : 2 * composedBytes > GPU_BASELINE_BUDGET ?
      overBudget('composed fwd+bwd', 2 * composedBytes) :
      await attempt('composed fwd+bwd', () => time(composedOf(fwdBwd), budget, quick ? 1 : 3));
  releasePooledGpuBuffers();

  // tfjs's own ops do not check the device's limits (a webgpu buffer over maxStorageBufferBindingSize gives
  // validation errors and wrong values, no exception): refuse the baselines that would exceed them.
  const limit = bindingLimit();
  const scoresBytes = 4 * p.batch * p.heads * N * N;
  const overLimit = (name: string) => {
    failures[name] = `its ${p.batch * p.heads}x${N}x${N} scores need ${scoresBytes} bytes, over the device's ` +
        `maxStorageBufferBindingSize of ${limit}`;
    return NaN;
  };
  const fullAttnFwdMs = inTurns != null ? inTurns[2] : scoresBytes > limit ? overLimit('full attention fwd') :
      await attempt('full attention fwd', () => time(full, budget, quick ? 1 : 3));
  const fullAttnFwdBwdMs = inTurns != null ? inTurns[3] : scoresBytes > limit ?
      overLimit('full attention fwd+bwd') :
      await attempt('full attention fwd+bwd', () => time(fullFwdBwd, budget, quick ? 1 : 3));

  tf.dispose([q, k, v, dOut, qh, kh, vh, dOutHeads]);
  releasePooledGpuBuffers();
  return {
    preset: p.name, backend, fusedFwdMs, fusedFwdBwdMs, fusedFwdKernelMs, fusedFwdBwdKernelMs, composedFwdMs,
    composedFwdBwdMs, fullAttnFwdMs,
    fullAttnFwdBwdMs, fusedFwdGflops: naFlops(p) / (fusedFwdMs * 1e6), fusedFwdAllocatedBytes, outputAndLseBytes,
    jsFwdMs, jsFwdBwdMs, wasmMemoryBytes, fwdCopies, fwdBwdCopies, uploadMs, failures, paths,
  };
}

function table(results: Result[]): string {
  const header = ['preset', 'fused fwd ms', 'GFLOP/s', 'fused fwd+bwd ms', '(x fwd)', 'fwd kernel ms',
                  'fwd+bwd kernel ms', 'composed fwd ms', '(x fused)',
                  'composed fwd+bwd ms', '(x fused)', 'full attn fwd ms', '(x fused)', 'full attn fwd+bwd ms',
                  '(x fused)', 'fwd alloc / (out+lse)', 'js fwd ms', 'js fwd+bwd ms', 'wasm MiB kept',
                  'copies in fwd ms', 'copies in fwd+bwd ms', 'upload ms'];
  const f = (x: number | null, d = 1) => x == null ? '-' : Number.isNaN(x) ? 'failed' : x.toFixed(d);
  // Times: three decimals under 10 ms (the GPU presets' fused times), else one.
  const ms = (x: number | null) => f(x, x != null && Math.abs(x) < 10 ? 3 : 1);
  const copies = (c: HostCopies | null) => c == null ? '-' : `${f(c.readMs + c.writeMs)} (r ${f(c.readMs)} w ${f(c.writeMs)})`;
  const rows = results.map(r => [
    r.preset, ms(r.fusedFwdMs), f(r.fusedFwdGflops, 2), ms(r.fusedFwdBwdMs), f(r.fusedFwdBwdMs / r.fusedFwdMs, 2),
    ms(r.fusedFwdKernelMs), ms(r.fusedFwdBwdKernelMs),
    f(r.composedFwdMs), f(r.composedFwdMs / r.fusedFwdMs), f(r.composedFwdBwdMs), f(r.composedFwdBwdMs / r.fusedFwdBwdMs),
    f(r.fullAttnFwdMs), f(r.fullAttnFwdMs / r.fusedFwdMs), f(r.fullAttnFwdBwdMs),
    f(r.fullAttnFwdBwdMs / r.fusedFwdBwdMs), f(r.fusedFwdAllocatedBytes / r.outputAndLseBytes, 2),
    f(r.jsFwdMs), f(r.jsFwdBwdMs), f(r.wasmMemoryBytes == null ? null : r.wasmMemoryBytes / 2 ** 20),
    copies(r.fwdCopies), copies(r.fwdBwdCopies), f(r.uploadMs),
  ]);
  return formatTable(header, rows);
}

/** Set in a child run of one preset: the file where it leaves its results (non-finite numbers as strings). */
const CHILD_RESULT = 'NATTEN_BENCH_RESULT_FILE';

/** Runs one preset in a fresh Node process (this script with the same loader flags) and returns its result. */
function presetInChild(preset: string, args: Args): Result {
  const file = path.join(os.tmpdir(), `natten-bench-${process.pid}-${preset}.json`);
  const argv = [...process.execArgv, process.argv[1], '--backend', args.backend, '--preset', preset,
                ...(args.quick ? ['--quick'] : []), ...(args.paths ? [] : ['--no-paths'])];
  const run = spawnSync(process.execPath, argv, {stdio: ['ignore', 'ignore', 'inherit'], env: {...process.env, [CHILD_RESULT]: file}});
  if (run.status !== 0 || !fs.existsSync(file)) {
    throw new Error(`bench: the child process for preset ${preset} failed (status ${run.status}, signal ${run.signal})`);
  }
  const [r] = JSON.parse(fs.readFileSync(file, 'utf8'), (_, x) => x === 'NaN' || x === 'Infinity' || x === '-Infinity' ? Number(x) : x) as Result[];
  fs.unlinkSync(file);
  return r;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.backend === 'tensorflow') {
    loadTfjsNode();  // tfjs-node-gpu, as `npm run setup:tfjs-node` leaves it
  }
  if (args.backend === 'webgpu') {
    const setup = require('../test/webgpu_node').setupNodeWebGPU();
    if (!setup.ok) {
      throw new Error(`bench: WebGPU in Node is unavailable: ${setup.reason}`);
    }
  }
  if (!(await tf.setBackend(args.backend))) {
    throw new Error(`bench: backend ${args.backend} is not available`);
  }
  await tf.ready();
  const cpu = os.cpus();
  console.log(`tfjs-natten bench: backend ${tf.getBackend()}, ${cpu.length} x ${cpu[0]?.model ?? 'unknown CPU'}, node ${
      process.version}`);
  if (args.backend === 'webgpu') {
    const gpu = tf.backend() as unknown as {adapterInfo: object, device: {limits: Record<string, number>}};
    console.log(`adapter ${JSON.stringify(gpu.adapterInfo)}, maxStorageBufferBindingSize ${
        gpu.device.limits.maxStorageBufferBindingSize}, maxComputeWorkgroupStorageSize ${
        gpu.device.limits.maxComputeWorkgroupStorageSize}`);
  }
  // A child run (one preset in its own process) hands its results back before any table: the parent has the peak.
  const child = process.env[CHILD_RESULT];
  const peak = args.paths && child == null ? machinePeak() : null;
  const results: Result[] = [];
  for (const p of PRESETS.filter(x => args.presets.includes(x.name))) {
    const r = child == null ? presetInChild(p.name, args) : await benchPreset(p, args.backend, args.quick, args.paths);
    results.push(r);
    const kernels = args.backend === 'cpu' && r.fusedFwdKernelMs != null && r.fusedFwdBwdKernelMs != null ?
        `; inside the native kernels ${r.fusedFwdKernelMs.toFixed(2)} and ${r.fusedFwdBwdKernelMs.toFixed(2)} ms, ` +
            `${(r.fusedFwdBwdKernelMs / r.fusedFwdKernelMs).toFixed(2)}x` :
        '';
    console.log(`${p.name}: done (fused fwd ${r.fusedFwdMs.toFixed(1)} ms${kernels})`);
  }
  if (child != null) {
    fs.writeFileSync(child, JSON.stringify(results, (_, x) => typeof x === 'number' && !Number.isFinite(x) ? String(x) : x));
    return;
  }
  console.log('\n' + table(results));
  for (const r of results) {
    for (const [what, why] of Object.entries(r.failures)) {
      console.log(`${r.preset}: ${what} failed: ${why}`);
    }
  }
  const paths = results.map(r => r.paths).filter((x): x is PathResult => x != null);
  if (paths.length > 0) {
    console.log(`\nkernel paths (${nativeSummary(peak, args.backend)}):\n${pathsTable(paths, peak)}`);
  }
  if (args.json) {
    const rows = results.map(r => ({
      preset: r.preset, backend: r.backend, fusedFwdMs: r.fusedFwdMs, fusedFwdBwdMs: r.fusedFwdBwdMs,
      composedFwdMs: r.composedFwdMs, composedFwdBwdMs: r.composedFwdBwdMs, fullAttnFwdMs: r.fullAttnFwdMs,
      fullAttnFwdBwdMs: r.fullAttnFwdBwdMs, fwdCopies: r.fwdCopies, fwdBwdCopies: r.fwdBwdCopies, uploadMs: r.uploadMs,
      paths: r.paths?.paths ?? null, peak,
      ...(Object.keys(r.failures).length > 0 ? {failures: r.failures} : {}),
    }));
    fs.writeFileSync(args.json, JSON.stringify(rows, null, 2) + '\n');
    console.log(`wrote ${args.json}`);
  }
}

main().catch(e => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
