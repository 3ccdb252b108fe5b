/** Gradients through tf.grad / tf.variableGrads / optimizers, in any combination of inputs, without leaks. */
import * as tf from '@tensorflow/tfjs';
import {na1d, na2d, na2dAV, na2dQK, na3d} from '../src/index';
import {describeAllBackends, read} from './harness';
import {expectNoLeak, randArray, rng} from './util';

async function nonZero(t: tf.Tensor): Promise<boolean> {
  const any = tf.tidy(() => tf.any(tf.notEqual(t, 0)));
  const value = (await any.data())[0];
  any.dispose();
  return value === 1;
}
const rand = (shape: number[], seed: number) => tf.tensor(randArray(rng(seed), shape.reduce((a, b) => a * b)), shape);

describeAllBackends('training', () => {
  it('an optimizer lowers a loss through na2d with every input trainable (rpb and extra tokens too)', async () => {
    const vars = {
      q: tf.variable(rand([1, 5, 6, 2, 4], 1)),
      k: tf.variable(rand([1, 5, 6, 1, 4], 2)),
      v: tf.variable(rand([1, 5, 6, 1, 3], 3)),
      rpb: tf.variable(tf.zeros([2, 5, 3])),
      ek: tf.variable(rand([1, 2, 1, 4], 4)),
      ev: tf.variable(rand([1, 2, 1, 3], 5)),
    };
    const target = rand([1, 5, 6, 2, 3], 6);
    const loss = () => tf.losses.meanSquaredError(target, na2d(vars.q, vars.k, vars.v, {
      kernelSize: [3, 2], dilation: [1, 2], isCausal: [false, true], rpb: vars.rpb, additionalKeys: vars.ek,
      additionalValues: vars.ev,
    })) as tf.Scalar;
    const before = tf.memory().numTensors;
    const {value, grads} = tf.variableGrads(loss);
    expect(Object.keys(grads).length).toBe(6);
    Object.values(vars).forEach(v => expect(grads[v.name].shape).toEqual(v.shape));
    for (const g of Object.values(grads)) {
      expect(await nonZero(g)).toBe(true);
    }
    const first = (await read(value))[0];
    tf.dispose([value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);

    const opt = tf.train.adam(0.05);
    for (let i = 0; i < 20; i++) {
      tf.tidy(() => {
        opt.minimize(loss);
      });
    }
    const lastT = loss();
    const last = (await read(lastT))[0];
    lastT.dispose();
    expect(last).toBeLessThan(first * 0.7);
    opt.dispose();
    tf.dispose([...Object.values(vars), target]);
  });

  it('tf.grad with respect to one input, the others constant (1d and 3d)', () => {
    const q = rand([2, 9, 2, 3], 7), v = rand([1, 4, 5, 3, 1, 2], 8);
    const g1 = expectNoLeak(() => tf.grad((x: tf.Tensor) => tf.sum(na1d(q, x, q, {kernelSize: 4, stride: 2})))(q));
    expect(g1.shape).toEqual(q.shape);
    const g3 = expectNoLeak(() => tf.grad((x: tf.Tensor) => tf.sum(tf.square(na3d(v, v, x, {kernelSize: [2, 3, 2]}))))(v));
    expect(g3.shape).toEqual(v.shape);
    tf.dispose([q, v, g1, g3]);
  });

  it('the split ops train: QK with rpb, softmax, dropout-free AV', async () => {
    const q = tf.variable(rand([1, 6, 6, 2, 4], 9)), rpb = tf.variable(tf.zeros([2, 5, 5]));
    const v = rand([1, 6, 6, 2, 4], 10);
    const opts = {kernelSize: 3, isCausal: [true, false], rpb};
    const loss = () => tf.tidy(() => tf.sum(tf.square(na2dAV(tf.softmax(na2dQK(q, q, opts)), v, opts))) as tf.Scalar);
    const before = tf.memory().numTensors;
    const {value, grads} = tf.variableGrads(loss, [q, rpb]);
    expect(grads[rpb.name].shape).toEqual([2, 5, 5]);
    expect(await nonZero(grads[rpb.name])).toBe(true);
    tf.dispose([value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([q, rpb, v]);
  });

  it('the logsumexp output has a gradient of its own', async () => {
    const q = rand([1, 7, 1, 3], 11);
    const g = tf.grad((x: tf.Tensor) => tf.sum((na1d(x, q, q, {kernelSize: 3, returnLse: true}) as tf.Tensor[])[1]))(q);
    expect(await nonZero(g)).toBe(true);
    tf.dispose([q, g]);
  });
});
