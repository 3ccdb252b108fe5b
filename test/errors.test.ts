/** Every bad-input class of the spec: an Error naming the op, the argument and the value, nothing computed. */
import * as tf from '@tensorflow/tfjs';
import {na1d, na1dAV, na1dQK, na2d, na2dAV, na2dQK, na3d, NAOptions} from '../src/index';
import {describeAllBackends, read} from './harness';
import {expectClose} from './util';

function expectError(fn: () => unknown, message: RegExp): void {
  const before = tf.memory().numTensors;
  expect(fn).toThrow(message);
  expect(tf.memory().numTensors).toBe(before);
}

describeAllBackends('bad input', () => {
  let q2: tf.Tensor, q1: tf.Tensor;
  beforeAll(() => {
    q2 = tf.zeros([1, 13, 12, 2, 4]);
    q1 = tf.zeros([2, 10, 2, 4]);
  });
  afterAll(() => tf.dispose([q2, q1]));
  const na2dWith = (options: unknown) => na2d(q2, q2, q2, options as NAOptions);

  it('kernel times dilation larger than the axis, in the words of the spec', () => {
    expectError(() => na2dWith({kernelSize: [3, 9], dilation: [1, 2]}),
                /^na2d: kernelSize\[1\]=9 with dilation\[1\]=2 needs spatial axis 1 >= 18, got 12$/);
    expectError(() => na2dWith({kernelSize: 14}), /^na2d: kernelSize\[0\]=14 with dilation\[0\]=1 needs spatial axis 0 >= 14, got 13$/);
  });

  it('kernelSize missing, too small, not an integer, not finite, wrong length', () => {
    expectError(() => na2dWith({}), /^na2d: kernelSize is required/);
    expectError(() => na2dWith({kernelSize: 1}), /^na2d: kernelSize must be >= 2, got 1$/);
    expectError(() => na2dWith({kernelSize: [3, 1]}), /^na2d: kernelSize\[1\] must be >= 2, got 1$/);
    expectError(() => na2dWith({kernelSize: 2.5}), /^na2d: kernelSize must be a finite integer, got 2.5$/);
    expectError(() => na2dWith({kernelSize: [3, NaN]}), /^na2d: kernelSize\[1\] must be a finite integer, got NaN$/);
    expectError(() => na2dWith({kernelSize: Infinity}), /^na2d: kernelSize must be a finite integer, got Infinity$/);
    expectError(() => na2dWith({kernelSize: '3'}), /^na2d: kernelSize must be a finite integer, got "3"$/);
    expectError(() => na2dWith({kernelSize: [3, 3, 3]}),
                /^na2d: kernelSize must be a number or an array of 2 numbers .*got \[3, 3, 3\] of length 3$/);
  });

  it('stride outside [1, kernelSize], dilation below 1', () => {
    expectError(() => na2dWith({kernelSize: 3, stride: 0}), /^na2d: stride must be in \[1, kernelSize\[0\]=3\], got 0$/);
    expectError(() => na2dWith({kernelSize: [3, 5], stride: [3, 6]}),
                /^na2d: stride\[1\] must be in \[1, kernelSize\[1\]=5\], got 6$/);
    expectError(() => na2dWith({kernelSize: 3, dilation: 0}), /^na2d: dilation must be >= 1, got 0$/);
    expectError(() => na2dWith({kernelSize: 3, dilation: [1]}), /^na2d: dilation must be .*array of 2 .*length 1$/);
  });

  it('isCausal not boolean or wrong length, scale not finite, returnLse not boolean', () => {
    expectError(() => na2dWith({kernelSize: 3, isCausal: 1}), /^na2d: isCausal must be a boolean, got 1$/);
    expectError(() => na2dWith({kernelSize: 3, isCausal: [true]}), /^na2d: isCausal must be .*array of 2 booleans/);
    expectError(() => na2dWith({kernelSize: 3, scale: NaN}), /^na2d: scale must be a finite number, got NaN$/);
    expectError(() => na2dWith({kernelSize: 3, scale: -Infinity}), /^na2d: scale must be a finite number, got -Infinity$/);
    expectError(() => na2dWith({kernelSize: 3, returnLse: 'yes'}), /^na2d: returnLse must be a boolean, got "yes"$/);
  });

  it('allowTf32 must be a boolean (every op takes it; only the CUDA kernels use it)', () => {
    expectError(() => na2dWith({kernelSize: 3, allowTf32: 'yes'}), /^na2d: allowTf32 must be a boolean, got "yes"$/);
    expectError(() => na1dQK(q1, q1, {kernelSize: 3, allowTf32: 1} as unknown as NAOptions),
                /^na1dQK: allowTf32 must be a boolean, got 1$/);
    const w = tf.zeros([2, 10, 2, 3]);
    expectError(() => na1dAV(w, q1, {kernelSize: 3, allowTf32: null} as unknown as NAOptions),
                /^na1dAV: allowTf32 must be a boolean, got null$/);
    w.dispose();
    const a = na2dWith({kernelSize: 3, allowTf32: false}) as tf.Tensor;
    const b = na2dWith({kernelSize: 3, allowTf32: true}) as tf.Tensor;
    expect(a.shape).toEqual(b.shape);
    tf.dispose([a, b]);
  });

  it('options missing or misspelled', () => {
    expectError(() => na2d(q2, q2, q2, undefined as unknown as NAOptions), /^na2d: options must be an object/);
    expectError(() => na2dWith({kernel_size: 3}), /^na2d: unknown option "kernel_size"; expected one of kernelSize,/);
  });

  it('rank, dtype and tensor type of query/key/value', () => {
    expectError(() => na2d(q1, q1, q1, {kernelSize: 3}),
                /^na2d: query must have rank 5 \(\[batch, Y, X, heads, headDim\]\), got rank 4 with shape \[2,10,2,4\]$/);
    const i32 = tf.zeros([1, 13, 12, 2, 4], 'int32');
    expectError(() => na2d(q2, i32, q2, {kernelSize: 3}), /^na2d: key must be float32, got int32$/);
    expectError(() => na2d([1, 2] as unknown as tf.Tensor, q2, q2, {kernelSize: 3}),
                /^na2d: query must be a tf.Tensor, got \[1, 2\]$/);
    i32.dispose();
    const gone = tf.zeros([1, 13, 12, 2, 4]);
    gone.dispose();
    expectError(() => na2d(q2, q2, gone, {kernelSize: 3}), /^na2d: value has been disposed$/);
  });

  it('shape mismatches between query, key and value', () => {
    const k = tf.zeros([1, 13, 11, 2, 4]), kd = tf.zeros([1, 13, 12, 2, 5]), k3 = tf.zeros([1, 13, 12, 3, 4]);
    const v = tf.zeros([1, 13, 12, 1, 4]);
    expectError(() => na2d(q2, k, k, {kernelSize: 3}),
                /^na2d: key shape \[1,13,11,2,4\] must match query shape \[1,13,12,2,4\] in batch and spatial sizes$/);
    expectError(() => na2d(q2, kd, kd, {kernelSize: 3}), /^na2d: key shape .* must match query shape .* in headDim/);
    expectError(() => na2d(q2, k3, k3, {kernelSize: 3}),
                /^na2d: query heads \(2\) must be a multiple of key heads \(3\)/);
    expectError(() => na2d(q2, q2, v, {kernelSize: 3}),
                /^na2d: value shape \[1,13,12,1,4\] must match key shape \[1,13,12,2,4\] in batch, spatial sizes and heads$/);
    tf.dispose([k, kd, k3, v]);
  });

  it('rpb of the wrong shape', () => {
    const rpb = tf.zeros([2, 5, 4]);
    expectError(() => na2dWith({kernelSize: 3, rpb}), /^na2d: rpb must have shape \[2,5,5\] .*got \[2,5,4\]$/);
    expectError(() => na1d(q1, q1, q1, {kernelSize: 3, rpb}), /^na1d: rpb must have rank 2/);
    rpb.dispose();
  });

  it('extra tokens: both or neither, matching shapes', () => {
    const ek = tf.zeros([1, 3, 2, 4]), ev = tf.zeros([1, 2, 2, 4]), bad = tf.zeros([1, 3, 1, 4]);
    expectError(() => na2dWith({kernelSize: 3, additionalKeys: ek}),
                /^na2d: additionalKeys and additionalValues must be given together, got additionalKeys only$/);
    expectError(() => na2dWith({kernelSize: 3, additionalKeys: ek, additionalValues: ev}),
                /^na2d: additionalKeys and additionalValues must have the same number of tokens/);
    expectError(() => na2dWith({kernelSize: 3, additionalKeys: bad, additionalValues: bad}),
                /^na2d: additionalKeys must have shape \[1, nExtra, 2, 4\] .*got \[1,3,1,4\]$/);
    tf.dispose([ek, ev, bad]);
  });

  it('split ops check their own arguments', () => {
    expectError(() => na2dQK(q2, q2, {kernelSize: [3, 13]}), /^na2dQK: kernelSize\[1\]=13 .*got 12$/);
    const w = tf.zeros([2, 10, 2, 4]);
    expectError(() => na1dAV(w, q1, {kernelSize: 3}),
                /^na1dAV: weights last axis must be kernelVolume \+ nExtra = 3 \+ 0 = 3, got 4/);
    expectError(() => na2dAV(w, q1, {kernelSize: 3}), /^na2dAV: weights must have rank 5/);
    expectError(() => na1dQK(q1, q1, {kernelSize: 3, isCausal: [false, true]}), /^na1dQK: isCausal must be/);
    w.dispose();
  });

  it('3-D op names itself', () => {
    expectError(() => na3d(q2, q2, q2, {kernelSize: 3}), /^na3d: query must have rank 6/);
  });

  it('NaN and Infinity inside tensors propagate without an error', async () => {
    const q = tf.tensor4d([NaN, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], [1, 6, 1, 2]);
    const out = na1d(q, q, tf.ones([1, 6, 1, 2]), {kernelSize: 3});
    const values = Array.from(await read(out));
    expect(Number.isNaN(values[0])).toBe(true);      // query 0 is NaN
    expectClose(values.slice(4), Array(8).fill(1), 1e-6, 'queries 2.. (they never see token 0)');
    tf.dispose([q, out]);
  });
});
