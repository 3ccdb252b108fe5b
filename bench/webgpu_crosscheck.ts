/**
 * The WebGPU kernels against the CPU kernels on large shapes (the suites use small ones): the GPU presets cut
 * down to what the CPU computes in seconds, forward (output, logsumexp) and forward+backward (dq, dk, dv), both
 * program families (row and tiled) and the halo forward where its box fits. Prints the relative error
 * ||webgpu - cpu|| / ||cpu|| per tensor; exits 1 when one is over 1e-4 (both compute in float32). Run where
 * WebGPU works (test/webgpu_node.ts's variables).
 * NATTEN_WEBGPU_TILES (a JSON list of tile traits, as for bench/webgpu_tiles.ts) adds a tiled run per traits.
 */
import * as tf from '@tensorflow/tfjs';
import {na1d, na2d, na3d, NAOptions, NATTEN_WEBGPU_FUSED, NATTEN_WEBGPU_TILE} from '../src/index';

interface Case {
  name: string;
  shape: number[];
  options: NAOptions;
}

const CASES: Case[] = [
  {name: '2d-nat (batch 2)', shape: [2, 56, 56, 4, 32], options: {kernelSize: 7}},
  {name: '2d-large (4 heads)', shape: [1, 128, 128, 4, 64], options: {kernelSize: 13}},
  {name: '3d-video (16x24x24, 2 heads)', shape: [1, 16, 24, 24, 2, 128], options: {kernelSize: [8, 16, 16]}},
  {name: '1d-long (L 4096, 2 heads)', shape: [1, 4096, 2, 64], options: {kernelSize: 1023}},
  {name: '2d causal dilated stride', shape: [1, 45, 61, 2, 48],
   options: {kernelSize: [5, 9], dilation: [2, 3], stride: [2, 3], isCausal: [true, false]}},
  {name: '3d head dim 256 causal', shape: [1, 6, 10, 12, 2, 256], options: {kernelSize: [3, 5, 7], isCausal: true}},
];

function relErr(a: Float32Array, b: Float32Array): number {
  let num = 0, den = 0;
  for (let i = 0; i < b.length; i++) {
    const d = a[i] - b[i];
    num += Number.isNaN(d) ? Infinity : d * d;
    den += b[i] * b[i];
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
}

async function compute(c: Case, xs: Float32Array[]): Promise<Float32Array[]> {
  const op = [na1d, na2d, na3d][c.shape.length - 4];
  const inputs = xs.map(x => tf.tensor(x, c.shape));
  const [q, k, v, dOut] = inputs;
  try {
    const [out, lse] = op(q, k, v, {...c.options, returnLse: true});
    const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, d: tf.Tensor) => op(a, b, d, c.options))([q, k, v], dOut);
    const values = await Promise.all([out, lse, ...grads].map(t => t.data() as Promise<Float32Array>));
    tf.dispose([out, lse, ...grads]);
    return values;
  } finally {
    tf.dispose(inputs);
  }
}

async function main(): Promise<void> {
  const setup = require('../test/webgpu_node').setupNodeWebGPU();
  if (!setup.ok || !(await tf.setBackend('webgpu'))) {
    throw new Error(`webgpu unavailable: ${setup.reason}`);
  }
  const tiles: string[] = JSON.parse(process.env.NATTEN_WEBGPU_TILES ?? '[]').map((t: object) => JSON.stringify(t));
  let worst = 0;
  for (const c of CASES) {
    const size = c.shape.reduce((a, b) => a * b, 1);
    const xs = [0, 1, 2, 3].map(() => tf.tidy(() => tf.randomNormal([size]).dataSync() as Float32Array));
    await tf.setBackend('cpu');
    const t0 = performance.now();
    const ref = await compute(c, xs);
    const cpuMs = performance.now() - t0;
    await tf.setBackend('webgpu');
    for (const [fused, tile] of [['row', ''], ['tiled', ''], ['halo', ''], ...tiles.map(t => ['tiled', t])]) {
      tf.env().set(NATTEN_WEBGPU_FUSED, fused);
      tf.env().set(NATTEN_WEBGPU_TILE, tile);
      let got: Float32Array[];
      try {
        got = await compute(c, xs);
      } catch (e) {
        // The halo program, or traits from NATTEN_WEBGPU_TILES, may not fit this case (the error is thrown before
        // any work).
        if ((tile !== '' || fused === 'halo') && /bytes of workgroup memory/.test((e as Error).message)) {
          console.log(`${c.name} [${fused} ${tile}]: not run, ${(e as Error).message}`);
          continue;
        }
        throw e;
      }
      const errs = ['out', 'lse', 'dq', 'dk', 'dv'].map((n, i) => [n, relErr(got[i], ref[i])] as [string, number]);
      worst = Math.max(worst, ...errs.map(e => e[1]));
      console.log(`${c.name} [${fused}${tile && ` ${tile}`}]: ${errs.map(([n, e]) => `${n} ${e.toExponential(1)}`).join(', ')} (cpu ${
          (cpuMs / 1000).toFixed(1)} s)`);
    }
    tf.env().set(NATTEN_WEBGPU_FUSED, 'auto');
    tf.env().set(NATTEN_WEBGPU_TILE, '');
  }
  console.log(`worst relative error ${worst.toExponential(2)}: ${worst <= 1e-4 ? 'ok' : 'FAILED'}`);
  process.exit(worst <= 1e-4 ? 0 : 1);
}

main().catch(e => {
  console.error(e);
  process.exit(1);
});
