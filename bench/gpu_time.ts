/**
 * GPU time per call of an op, shared by bench.ts and webgpu_tiles.ts: inputs resident, untimed calls, then pairs
 * of batches of n and 2n calls, each batch closed by a one-element readback of its last result; the time per
 * call is the median over the pairs of (T(2n) - T(n)) / n.
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
  /** Time per call, ms: the median over the pairs of (T(2n) - T(n)) / n. */
  perCallMs: number;
  /** One call closed by a readback (the estimate n is chosen from), ms. */
  firstMs: number;
  /** A readback alone on an idle queue, ms (median of five). */
  syncMs: number;
  /** Calls in the short batch of each pair, and the pairs. */
  n: number;
  pairs: number;
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
 * GPU time per call. An untimed call (it compiles the pipelines: tens of seconds for a tiled one on a software
 * adapter); one timed call with its readback (`firstMs`); the readback alone on an idle queue (`syncMs`); then
 * up to three pairs of batches of n and 2n calls, n chosen so that the pairs fit the budget (at least one pair of
 * one and two calls). A batch's time is the readback's fixed latency plus n calls, so the difference of the two
 * batches of a pair is n calls' time without that latency. Why not a batch's time divided by its calls (as
 * before): the quotient keeps 1/n of the latency, and n followed the budget, so the same program read
 * differently under different budgets (on the lent H200, bench.ts's 500 ms budget read 2d-large 3-4x and 1d-long
 * 1.5x slower than webgpu_tiles' 1500 ms). The median of pairs: one pair's time can carry another tenant's work
 * or a clock change.
 */
export async function timeGpuDetailed(fn: () => tf.Tensor | tf.Tensor[], budgetMs: number): Promise<GpuTiming> {
  let out = fn();
  await syncOne(out);
  tf.dispose(out);
  const t1 = performance.now();
  out = fn();
  await syncOne(out);
  const firstMs = performance.now() - t1;
  const syncs: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await syncOne(out);
    syncs.push(performance.now() - t0);
  }
  tf.dispose(out);
  const syncMs = median(syncs);
  const estimate = Math.max(firstMs - syncMs, 1e-3);
  // A pair costs 3n calls; up to 3 pairs and 300 calls in all within the budget.
  const pairs = Math.max(1, Math.min(3, Math.floor(budgetMs / (3 * estimate))));
  const n = Math.max(1, Math.min(100, Math.floor(budgetMs / (3 * pairs * estimate))));
  const perCall: number[] = [];
  for (let i = 0; i < pairs; i++) {
    const short = await batchMs(fn, n);
    const long = await batchMs(fn, 2 * n);
    perCall.push((long - short) / n);
  }
  return {perCallMs: median(perCall), firstMs, syncMs, n, pairs};
}

/** GPU time per call, ms (timeGpuDetailed). */
export async function timeGpu(fn: () => tf.Tensor | tf.Tensor[], budgetMs: number): Promise<number> {
  return (await timeGpuDetailed(fn, budgetMs)).perCallMs;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
