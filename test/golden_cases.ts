/**
 * The NATTEN golden cases (test/fixtures, copied from shared/testdata) and the check of one case: output,
 * logsumexp and the gradients of every input against NATTEN's, with no tensor leaked. Shared by the jest
 * suite (goldens.test.ts) and the page the browser tests load (test/browser), so both run the same check.
 */
import * as tf from '@tensorflow/tfjs';
import type {NAOptions} from '../src/index';
import {expectClose, expectNoLeak, FUSED} from './util';

export interface GoldenCase {
  name: string;
  dims: number;
  shape: number[];
  kvShape: number[];
  kernelSize: number[];
  stride: number[];
  dilation: number[];
  isCausal: boolean[];
  scale: number;
  q: number[];
  k: number[];
  v: number[];
  out: number[];
  lse: number[];
  dOut: number[];
  dq: number[];
  dk: number[];
  dv: number[];
  extraShape?: number[];
  additionalKeys?: number[];
  additionalValues?: number[];
  dAdditionalKeys?: number[];
  dAdditionalValues?: number[];
}

export interface Goldens {
  cases: GoldenCase[];
}

/** Absolute tolerances against NATTEN's float32 values. */
export const GOLDEN_ATOL = {forward: 1e-4, gradients: 1e-3};

/**
 * Runs one case forward (with logsumexp) and backward on the active backend; throws naming the first
 * quantity that differs from NATTEN's by more than GOLDEN_ATOL, or a leaked tensor.
 */
export async function checkGoldenCase(c: GoldenCase): Promise<void> {
  const q = tf.tensor(c.q, c.shape), k = tf.tensor(c.k, c.kvShape), v = tf.tensor(c.v, c.kvShape);
  const inputs = [q, k, v];
  const options: NAOptions = {
    kernelSize: c.kernelSize, stride: c.stride, dilation: c.dilation, isCausal: c.isCausal, scale: c.scale,
  };
  if (c.extraShape) {
    inputs.push(tf.tensor(c.additionalKeys!, c.extraShape), tf.tensor(c.additionalValues!, c.extraShape));
  }
  const op = FUSED[c.dims - 1];
  const run = (xs: tf.Tensor[], returnLse: boolean) =>
      op(xs[0], xs[1], xs[2], {...options, additionalKeys: xs[3], additionalValues: xs[4], returnLse});
  const held: tf.Tensor[] = [...inputs];
  try {
    const [out, lse] = expectNoLeak(() => run(inputs, true) as unknown as [tf.Tensor, tf.Tensor]);
    held.push(out, lse);
    const outShape = [...c.shape.slice(0, -1), c.kvShape[c.kvShape.length - 1]];
    if (out.shape.join() !== outShape.join()) {
      throw new Error(`output shape [${out.shape}], expected [${outShape}]`);
    }
    expectClose(await out.data(), c.out, GOLDEN_ATOL.forward, 'output');
    expectClose(await lse.data(), c.lse, GOLDEN_ATOL.forward, 'logsumexp');

    const dOut = tf.tensor(c.dOut, out.shape);
    held.push(dOut);
    const grads = expectNoLeak(
        () => tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(run(xs, false) as tf.Tensor, dOut)))(inputs));
    held.push(...grads);
    const expected: Array<[string, number[] | undefined]> = [
      ['dq', c.dq], ['dk', c.dk], ['dv', c.dv], ['dAdditionalKeys', c.dAdditionalKeys],
      ['dAdditionalValues', c.dAdditionalValues],
    ];
    for (let i = 0; i < grads.length; i++) {
      expectClose(await grads[i].data(), expected[i][1]!, GOLDEN_ATOL.gradients, expected[i][0]);
    }
  } finally {
    tf.dispose(held);
  }
}
