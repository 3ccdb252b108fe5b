/**
 * GPU time per call of an op, shared by bench.ts and webgpu_tiles.ts: inputs resident, an untimed call, then one
 * batch of calls closed by a one-element readback of the last result, divided by the calls.
 */
import * as tf from '@tensorflow/tfjs';

/** Waits for the GPU queue by reading back one element of the last result (the queue runs in order). */
export async function syncOne(t: tf.Tensor | tf.Tensor[]): Promise<void> {
  const last = Array.isArray(t) ? t[t.length - 1] : t;
  const one = tf.tidy(() => tf.slice(tf.reshape(last, [-1]), 0, 1));
  await one.data();
  one.dispose();
}

/**
 * GPU time per call: an untimed call (it compiles the pipelines: tens of seconds for a tiled one on a software
 * adapter), then one batch of calls closed by a one-element readback, divided by the calls. The batch is long
 * enough (the budget, up to 200 calls) that the readback's fixed latency is a small part of it; reading
 * back a whole result instead (tens of MB through a mapped staging buffer) would be counted as kernel time.
 */
export async function timeGpu(fn: () => tf.Tensor | tf.Tensor[], budgetMs: number): Promise<number> {
  let out = fn();
  await syncOne(out);
  tf.dispose(out);
  const t1 = performance.now();
  out = fn();
  await syncOne(out);
  tf.dispose(out);
  const first = performance.now() - t1;
  if (first > budgetMs) {
    return first;
  }
  const reps = Math.max(1, Math.min(200, Math.floor(budgetMs / Math.max(first, 1e-3))));
  const t0 = performance.now();
  for (let i = 0; i < reps - 1; i++) {
    tf.dispose(fn());
  }
  out = fn();
  await syncOne(out);
  const ms = (performance.now() - t0) / reps;
  tf.dispose(out);
  return ms;
}
