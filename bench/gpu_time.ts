/**
 * GPU time per call of an op, shared by bench.ts and webgpu_tiles.ts: inputs resident, untimed calls that warm
 * the GPU's clock, then pairs of batches of n and 2n calls, each batch closed by a one-element readback of its
 * last result; the time per call is the median over the pairs of (T(n) + T(2n) - 2 * readback) / 3n.
 */
import * as tf from '@tensorflow/tfjs';

/** Waits for the GPU queue by reading back one element of the last result (the queue runs in order). */
export async function syncOne(t: tf.Tensor | tf.Tensor[]): Promise<void> {
  const last = Array.isArray(t) ? t[t.length - 1] : t;
  const one = tf.tidy(() => tf.slice(tf.reshape(last, [-1]), 0, 1));
  await one.data();
  one.dispose();
}

/** How a GPU time was measured (bench.ts prints it beside the webgpu tables). */
export interface GpuTiming {
  /** Time per call, ms: the median over the pairs of (T(n) + T(2n) - 2 * syncMs) / 3n. */
  perCallMs: number;
  /**
   * The warm-up: its time, and the time per call of its last batch (n is chosen from it), ms. A call slower than
   * the budget is timed alone, right after the untimed one (pairs 0).
   */
  warmMs: number;
  warmPerCallMs: number;
  /** A readback alone on an idle queue, ms (median of five). */
  syncMs: number;
  /** Calls in the short batch of each pair, and the pairs. */
  n: number;
  pairs: number;
  /**
   * The backend's own kernel time for one call where the adapter has timestamp queries (tf.time's kernelMs:
   * the sum of the call's programs, median of three), else null: a cross-check, not the measurement.
   */
  kernelMs: number | null;
}

async function batchMs(fn: () => tf.Tensor | tf.Tensor[], calls: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < calls - 1; i++) {
    tf.dispose(fn());
  }
  const out = fn();
  await syncOne(out);
  const ms = performance.now() - t0;
  tf.dispose(out);
  return ms;
}

/**
 * Dawn's Node binding waits for the GPU by calling `setImmediate` again and again, with a new function each time:
 * garbage at the rate of the polls. On the H200 batches of 3d-video forwards (150 ms each) made about 15 MB of it
 * per call (the heap's growth between collections), and V8's mark-compact collections of it stopped the main thread
 * for 22-40 ms about every half second (`node --trace-gc`; bench/RESULTS.md, session of 2026-11-30 12:04 UTC),
 * while it was encoding a batch (which the GPU then waits for) or after the GPU had finished one: such batches read
 * up to 167 ms a call. The timing therefore polls through test/webgpu_env.js's 1 ms throttle, as the test workers
 * do: a readback ends up to about 1 ms later, which `syncMs` (timed the same way) takes off.
 */
function throttlePolling(): void {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const {throttleDawnPolling} = require('../test/webgpu_env') as {throttleDawnPolling(t: object): unknown};
  throttleDawnPolling(globalThis);
}

/**
 * GPU time per call. An untimed call (it compiles the pipelines: tens of seconds for a tiled one on a software
 * adapter), then one timed call: if it took longer than the budget, that is the measurement; else a warm-up of
 * batches of calls, doubling until a batch takes 50 ms, for at least 300 ms (and at least two batches); the
 * readback alone on an idle queue (`syncMs`); an untimed batch of 2n calls, so that tfjs's pool of GPU buffers
 * holds every buffer the timed batches use (a batch of more calls than any before it makes new buffers: on the
 * H200, 755 MB buffers for a 3d-video call added about 21 ms each, a 67 MB one for 2d-large about 3 ms); then up to
 * three pairs of batches of n and 2n calls, n chosen so that the pairs fit the budget (at least one pair of one and
 * two calls). A batch's time is n calls plus one readback, whose latency (`syncMs`: 1.5-1.9 ms on the H200 through
 * the throttle, 0.2-0.9 without it) is taken off. Not the difference of the two batches over n, tried first: with
 * few calls per batch it is noisy, and on a software adapter, whose "GPU" is the same two cores, it read a third
 * of the kernel time. The warm-up because the GPU's clock follows its load: on the lent
 * H200 the SM clock sits at 345 MHz when idle, rises to 1980 MHz within about 0.1 s of steady work and falls back
 * about 0.3 s after it; timed from cold (right after the compiling call, as before), 2d-large's first ten or so
 * calls took 10 ms each against 1.8 ms warm, which is what made this benchmark read 2d-large 3-4x slower than
 * bench/webgpu_tiles.ts.
 * The median of pairs: one pair's time can carry another tenant's work or a clock change.
 */
export async function timeGpuDetailed(fn: () => tf.Tensor | tf.Tensor[], budgetMs: number): Promise<GpuTiming> {
  throttlePolling();
  await batchMs(fn, 1);
  const w0 = performance.now();
  const one = await batchMs(fn, 1);
  if (one > budgetMs) {
    // A slow call (the baselines: seconds each) keeps the GPU busy after the untimed one and dwarfs the readback.
    return {perCallMs: one, warmMs: 0, warmPerCallMs: one, syncMs: 0, n: 1, pairs: 0, kernelMs: null};
  }
  let calls = 1, last = 0, batches = 0;
  while (batches < 2 || performance.now() - w0 < 300) {
    last = await batchMs(fn, calls);
    batches++;
    if (last < 50) {
      calls *= 2;
    }
  }
  const warmMs = performance.now() - w0, warmPerCallMs = last / calls;
  const keep = fn();
  await syncOne(keep);
  const syncs: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await syncOne(keep);
    syncs.push(performance.now() - t0);
  }
  tf.dispose(keep);
  const syncMs = median(syncs);
  const estimate = Math.max(warmPerCallMs, 1e-3);
  // A pair costs 3n calls; up to 3 pairs and 300 calls in all within the budget.
  const pairs = Math.max(1, Math.min(3, Math.floor(budgetMs / (3 * estimate))));
  const n = Math.max(1, Math.min(100, Math.floor(budgetMs / (3 * pairs * estimate))));
  await batchMs(fn, 2 * n);
  const perCall: number[] = [];
  for (let i = 0; i < pairs; i++) {
    const short = await batchMs(fn, n);
    const long = await batchMs(fn, 2 * n);
    perCall.push((short + long - 2 * syncMs) / (3 * n));
  }
  const kernel = await kernelMs(fn, 3 * estimate > budgetMs ? 1 : 3);
  return {perCallMs: median(perCall), warmMs, warmPerCallMs, syncMs, n, pairs, kernelMs: kernel};
}

/** tf.time's kernelMs for one call (median of `reps`), or null where the backend gives none. */
async function kernelMs(fn: () => tf.Tensor | tf.Tensor[], reps: number): Promise<number | null> {
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    let out: tf.Tensor | tf.Tensor[] = [];
    const info = await tf.time(() => {
      out = fn();
    });
    tf.dispose(out);
    if (typeof info.kernelMs !== 'number') {
      return null;
    }
    times.push(info.kernelMs);
  }
  return median(times);
}

/** GPU time per call, ms (timeGpuDetailed). */
export async function timeGpu(fn: () => tf.Tensor | tf.Tensor[], budgetMs: number): Promise<number> {
  return (await timeGpuDetailed(fn, budgetMs)).perCallMs;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
