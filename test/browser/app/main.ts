/**
 * A small app as a user would write it: tfjs, its webgpu backend and tfjs-natten imported by package name
 * and bundled (esbuild or Vite, test/browser/build_app.ts) from the package's ESM build. The browser test
 * calls `window.nattenApp.run` and compares with Node.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import {kernelNames, na2d} from 'tfjs-natten';

export interface AppResult {
  backend: string;
  /** Whether tfjs-natten's kernels are registered for the backend (the bundler kept the side effects). */
  naKernels: boolean;
  out: number[];
  dq: number[];
}

async function run(backend: string, values: number[], shape: number[]): Promise<AppResult> {
  if (!(await tf.setBackend(backend))) {
    throw new Error(`tf.setBackend('${backend}') failed`);
  }
  const q = tf.tensor(values, shape);
  const options = {kernelSize: [3, 4], dilation: [1, 2], isCausal: [false, true]};
  const out = na2d(q, q, q, options) as tf.Tensor;
  const dq = tf.grad((x: tf.Tensor) => tf.sum(tf.square(na2d(x, q, x, options) as tf.Tensor)))(q);
  const result = {
    backend: tf.getBackend(),
    naKernels: tf.getKernel(kernelNames.NattenNAForward, tf.getBackend()) != null,
    out: Array.from(await out.data()),
    dq: Array.from(await dq.data()),
  };
  tf.dispose([q, out, dq]);
  return result;
}

(window as unknown as {nattenApp: unknown}).nattenApp = {run};
