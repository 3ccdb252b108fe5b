/**
 * GPU time per call of an op, shared by bench.ts and webgpu_tiles.ts: inputs resident, an untimed call, then five
 * batches of calls, each closed by a one-element readback of the last result; the median batch's time per call.
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
 * adapter), then up to 200 calls within the budget in five batches, each closed by a one-element readback; the
 * median over the batches of their time per call. The batches are long enough that the readback's fixed latency
 * is a small part of each; reading back a whole result instead (tens of MB through a mapped staging buffer)
 * would be counted as kernel time. The median of batches, not one batch: on the lent H200 one batch's time
 * varied by up to 1.5x from run to run (another tenant's work, or clocks), which one slow batch then carried.
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
  const batches = Math.min(5, reps), perBatch = Math.ceil(reps / batches);
  const times: number[] = [];
  for (let b = 0; b < batches; b++) {
    const t0 = performance.now();
    for (let i = 0; i < perBatch - 1; i++) {
      tf.dispose(fn());
    }
    out = fn();
    await syncOne(out);
    times.push((performance.now() - t0) / perBatch);
    tf.dispose(out);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}
