/**
 * The NA layers: shapes and values against a plain-JS reference of the spec (1-D/2-D/3-D, GQA, rpb,
 * causal), the split path, attention weights, gradients against finite differences, training, config
 * and save/load round trips (memory and file system), bad arguments, and tensor leaks.
 */
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {nodeFileSystem} from '../src/io/node_fs';
import {layers as nattenLayers, NeighborhoodAttention1D, NeighborhoodAttention2D, NeighborhoodAttention3D,
        NeighborhoodAttentionArgs, NeighborhoodAttentionGeneric, neighborhoodAttention1d, neighborhoodAttention2d,
        neighborhoodAttention3d} from '../src/layers/index';
import {describeAllBackends, read, USER_BACKENDS} from './harness';
import {withoutIsTestOnTensorflow} from './tensorflow_backend';
import {inFloat32, tolerance} from './util';

type LayerClass = new (args: NeighborhoodAttentionArgs) => NeighborhoodAttentionGeneric;

/** Deterministic values in about [-1, 1]. */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let a = seed >>> 0;
  for (let i = 0; i < n; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    out[i] = (a / 4294967296) * 2 - 1;
  }
  return out;
}

/**
 * Runs `fn` with tfjs's unseeded random ops made repeatable: tfjs seeds each unseeded random op from
 * `Math.random()`, so pinning it gives every `dropout` call inside the same mask. Finite differences
 * through the training path then compare evaluations that share one mask.
 */
function withFixedDropoutMask<T>(fn: () => T): T {
  // Replaced by hand rather than with jest.spyOn: the GPU machine runs these suites without jest.
  const random = Math.random;
  Math.random = () => 0.4242;
  try {
    return fn();
  } finally {
    Math.random = random;
  }
}

/** withFixedDropoutMask for an async body: the mask stays pinned until the body's promise settles. */
async function withFixedDropoutMaskAsync<T>(fn: () => Promise<T>): Promise<T> {
  const random = Math.random;
  Math.random = () => 0.4242;
  try {
    return await fn();
  } finally {
    Math.random = random;
  }
}

function seededTensor(shape: number[], seed: number, scale = 1): tf.Tensor {
  return tf.tensor(values(shape.reduce((p, q) => p * q, 1), seed).map(v => v * scale), shape);
}

/** Builds the layer for `shape` and gives every weight (biases and rpb included) seeded non-zero values. */
function buildSeeded(layer: NeighborhoodAttentionGeneric, shape: number[], seed = 7): void {
  layer.build(shape);
  const seeded = layer.getWeights().map((w, i) => seededTensor(w.shape, seed + 13 * i, 0.5));
  layer.setWeights(seeded);
  tf.dispose(seeded);
}

// ---------------------------------------------------------------------------------------------------------
// A plain-JS reference of the layer, written from the spec (docs: neighborhood-attention.md), in float64.

interface AxisWindow {
  group: number;
  start: number;
  end: number;
}

function axisWindow(i: number, L: number, k: number, s: number, d: number, causal: boolean): AxisWindow {
  const group = i % d, iHat = Math.floor(i / d), groupLength = Math.ceil((L - group) / d);
  if (causal) {
    const leader = Math.min(Math.floor(iHat / s) * s + s - 1, groupLength - 1);
    return {group, start: Math.max(leader - k + 1, 0), end: Math.min(iHat + 1, groupLength)};
  }
  const leader = Math.min(Math.floor(iHat / s) * s + Math.floor(s / 2), groupLength - 1);
  const start = Math.min(Math.max(leader - Math.floor(k / 2), 0), groupLength - k);
  return {group, start, end: start + k};
}

interface Reference {
  output: Float64Array;
  /** Softmax weights `[batch, tokens, heads, kernelVolume]` (0 in masked slots). */
  weights: Float64Array;
}

async function referenceLayer(layer: NeighborhoodAttentionGeneric, xShape: number[], x: Float32Array):
    Promise<Reference> {
  const byName = new Map<string, Float32Array>();
  for (const w of layer.weights) {
    byName.set(w.originalName.split('/').pop()!, await read(w.read()));
  }
  const Wqkv = byName.get('qkv_kernel')!, bqkv = byName.get('qkv_bias'), Wp = byName.get('proj_kernel')!;
  const bp = byName.get('proj_bias')!, rpb = byName.get('rpb');
  const naDim = layer.naDim, spatial = xShape.slice(1, 1 + naDim), C = xShape[xShape.length - 1];
  const B = xShape[0], N = spatial.reduce((p, q) => p * q, 1);
  const H = layer.numHeads, Hk = layer.numKvHeads, D = C / H, U = (H + 2 * Hk) * D;
  const kernel = layer.kernelSize, K = kernel.reduce((p, q) => p * q, 1);
  const scale = layer.scale ?? 1 / Math.sqrt(D);
  const proj = new Float64Array(B * N * U);
  for (let t = 0; t < B * N; t++) {
    for (let u = 0; u < U; u++) {
      let acc = bqkv ? bqkv[u] : 0;
      for (let c = 0; c < C; c++) {
        acc += x[t * C + c] * Wqkv[c * U + u];
      }
      proj[t * U + u] = acc;
    }
  }
  const q = (b: number, n: number, h: number, d: number) => proj[(b * N + n) * U + h * D + d];
  const k = (b: number, n: number, g: number, d: number) => proj[(b * N + n) * U + (H + g) * D + d];
  const v = (b: number, n: number, g: number, d: number) => proj[(b * N + n) * U + (H + Hk + g) * D + d];
  const coords = (n: number) => {
    const c: number[] = [];
    for (let a = naDim - 1; a >= 0; a--) {
      c[a] = n % spatial[a];
      n = Math.floor(n / spatial[a]);
    }
    return c;
  };
  const attended = new Float64Array(B * N * H * D);
  const weights = new Float64Array(B * N * H * K);
  const rpbStrides = kernel.map((_, a) => kernel.slice(a + 1).reduce((p, kk) => p * (2 * kk - 1), 1));
  for (let b = 0; b < B; b++) {
    for (let n = 0; n < N; n++) {
      const qc = coords(n);
      const windows = qc.map((i, a) => axisWindow(i, spatial[a], kernel[a], layer.stride[a], layer.dilation[a],
                                                   layer.isCausal[a]));
      for (let h = 0; h < H; h++) {
        const g = Math.floor(h / (H / Hk));
        const logits = new Float64Array(K).fill(-Infinity);
        const keyTokens = new Int32Array(K).fill(-1);
        for (let slot = 0; slot < K; slot++) {
          let rest = slot, key = 0, rpbIndex = 0, valid = true;
          const kc: number[] = [];
          for (let a = naDim - 1; a >= 0; a--) {
            const t = rest % kernel[a];
            rest = Math.floor(rest / kernel[a]);
            const w = windows[a];
            valid = valid && w.start + t < w.end;
            kc[a] = (w.start + t) * layer.dilation[a] + w.group;
          }
          if (!valid) {
            continue;
          }
          for (let a = 0; a < naDim; a++) {
            key = key * spatial[a] + kc[a];
            rpbIndex += ((kc[a] - qc[a]) / layer.dilation[a] + kernel[a] - 1) * rpbStrides[a];
          }
          let dot = 0;
          for (let d = 0; d < D; d++) {
            dot += q(b, n, h, d) * k(b, key, g, d);
          }
          const rpbSize = rpbStrides[0] * (2 * kernel[0] - 1);
          logits[slot] = scale * dot + (rpb ? rpb[h * rpbSize + rpbIndex] : 0);
          keyTokens[slot] = key;
        }
        const max = Math.max(...logits);
        let sum = 0;
        const p = logits.map(l => {
          const e = Math.exp(l - max);
          sum += e;
          return e;
        });
        for (let slot = 0; slot < K; slot++) {
          const w = p[slot] / sum;
          weights[((b * N + n) * H + h) * K + slot] = w;
          if (keyTokens[slot] >= 0) {
            for (let d = 0; d < D; d++) {
              attended[((b * N + n) * H + h) * D + d] += w * v(b, keyTokens[slot], g, d);
            }
          }
        }
      }
    }
  }
  const output = new Float64Array(B * N * C);
  for (let t = 0; t < B * N; t++) {
    for (let c = 0; c < C; c++) {
      let acc = bp[c];
      for (let j = 0; j < H * D; j++) {
        acc += attended[t * H * D + j] * Wp[j * C + c];
      }
      output[t * C + c] = acc;
    }
  }
  return {output, weights};
}

/** Frees a layer's weights (`Layer.dispose()` only works for layers that are part of a model). */
function disposeLayer(layer: NeighborhoodAttentionGeneric): void {
  for (const w of layer.weights) {
    w.dispose();
  }
}

/** A config as it reads after a JSON round trip (tfjs writes `undefined` fields as null). */
function asJSON(config: object): unknown {
  return JSON.parse(JSON.stringify(config, (_, v) => v === undefined ? null : v));
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i] - b[i]));
  }
  return m;
}

interface Case {
  title: string;
  cls: LayerClass;
  args: NeighborhoodAttentionArgs;
  shape: number[];
}

const CASES: Case[] = [
  {
    title: '1-D causal, dilation 2, stride 2, 3 heads',
    cls: NeighborhoodAttention1D,
    args: {numHeads: 3, kernelSize: 3, stride: 2, dilation: 2, isCausal: true, useRelPosBias: true},
    shape: [2, 11, 12],
  },
  {
    title: '2-D GQA (4 heads, 2 kv heads), even kernel [3, 4], rpb, scale 0.3',
    cls: NeighborhoodAttention2D,
    args: {numHeads: 4, numKvHeads: 2, kernelSize: [3, 4], useRelPosBias: true, scale: 0.3},
    shape: [1, 5, 6, 16],
  },
  {
    title: '2-D MQA (1 kv head), causal on axis 0 only, rpb',
    cls: NeighborhoodAttention2D,
    args: {numHeads: 2, numKvHeads: 1, kernelSize: 3, isCausal: [true, false], useRelPosBias: true},
    shape: [2, 4, 5, 8],
  },
  {
    title: '3-D kernel [2, 3, 3], stride [1, 2, 1], no qkv bias, rpb',
    cls: NeighborhoodAttention3D,
    args: {numHeads: 2, kernelSize: [2, 3, 3], stride: [1, 2, 1], qkvBias: false, useRelPosBias: true},
    shape: [1, 3, 4, 4, 8],
  },
];

function expectedWeightShapes(c: Case): Record<string, number[]> {
  const C = c.shape[c.shape.length - 1], H = c.args.numHeads, Hk = c.args.numKvHeads ?? H, D = C / H;
  const naDim = c.shape.length - 2;
  const k = Array.isArray(c.args.kernelSize) ? c.args.kernelSize : Array(naDim).fill(c.args.kernelSize);
  const shapes: Record<string, number[]> = {qkv_kernel: [C, (H + 2 * Hk) * D], proj_kernel: [H * D, C], proj_bias: [C]};
  if (c.args.qkvBias !== false) {
    shapes.qkv_bias = [(H + 2 * Hk) * D];
  }
  if (c.args.useRelPosBias) {
    shapes.rpb = [H, ...k.map((kk: number) => 2 * kk - 1)];
  }
  return shapes;
}

/** `sum(layer(x) * R)` for a fixed R: a scalar whose gradient reaches every output. */
function weightedSum(layer: NeighborhoodAttentionGeneric, x: tf.Tensor, R: tf.Tensor, training = false): tf.Scalar {
  return tf.sum(tf.mul(layer.apply(x, {training}) as tf.Tensor, R));
}

/**
 * Directional central differences: for random directions u, `(f(p + eps u) - f(p - eps u)) / 2 eps` against
 * `<grad, u>`. A missing or wrong gradient for any entry changes the directional derivative. The differences
 * are taken in float32 on every backend (inFloat32: the CUDA kernels' TF32 noise over 2 eps would swamp them).
 */
async function expectDirectionalMatch(name: string, analytic: tf.Tensor, f: (delta: tf.Tensor) => Promise<number>,
                                      seed: number): Promise<void> {
  const eps = 1e-2;
  for (let trial = 0; trial < 2; trial++) {
    const u = seededTensor(analytic.shape, seed + trial);
    const plus = await inFloat32(() => scalarOf(delta => f(delta), tf.mul(u, eps)));
    const minus = await inFloat32(() => scalarOf(delta => f(delta), tf.mul(u, -eps)));
    const numeric = (plus - minus) / (2 * eps);
    const exactT = tf.sum(tf.mul(analytic, u));
    const exact = (await read(exactT))[0];
    exactT.dispose();
    u.dispose();
    const tolerance = 2e-2 * Math.max(Math.abs(exact), Math.abs(numeric)) + 2e-3;
    if (!(Math.abs(numeric - exact) <= tolerance)) {
      throw new Error(`${name}: directional derivative ${exact} vs finite difference ${numeric} (tolerance ${
          tolerance})`);
    }
  }
}

/** `f(delta)`, then frees `delta` and every tensor `f` left behind. */
async function scalarOf(f: (delta: tf.Tensor) => Promise<number>, delta: tf.Tensor): Promise<number> {
  tf.engine().startScope();
  try {
    return await f(delta);
  } finally {
    tf.engine().endScope();
  }
}

/** The first value of a tensor, read asynchronously; the tensor is disposed. */
async function first(t: tf.Tensor): Promise<number> {
  const v = (await read(t))[0];
  t.dispose();
  return v;
}

// ---------------------------------------------------------------------------------------------------------

describeAllBackends('NA layers', () => {
  for (const c of CASES) {
    test(`${c.title}: output shape, weight shapes and values match the reference`, async () => {
      const layer = new c.cls({...c.args});
      const x = seededTensor(c.shape, 3);
      buildSeeded(layer, c.shape);
      const shapes = Object.fromEntries(layer.weights.map(w => [w.originalName.split('/').pop()!, w.shape]));
      expect(shapes).toEqual(expectedWeightShapes(c));
      const y = layer.apply(x) as tf.Tensor;
      expect(y.shape).toEqual(c.shape);
      expect(layer.computeOutputShape([null, ...c.shape.slice(1)])).toEqual([null, ...c.shape.slice(1)]);
      const ref = await referenceLayer(layer, c.shape, await read(x));
      expect(maxAbsDiff(await read(y), ref.output)).toBeLessThan(tolerance(2e-5, ref.output));
      tf.dispose([x, y]);
      disposeLayer(layer);
    });
  }

  test('attentionWeights: split-op softmax over each window, matching the reference, 0 in masked slots', async () => {
    const c = CASES[2];
    const layer = new c.cls({...c.args});
    buildSeeded(layer, c.shape);
    const x = seededTensor(c.shape, 5);
    const w = layer.attentionWeights(x);
    expect(w.shape).toEqual([...c.shape.slice(0, -1), 2, 9]);
    const ref = await referenceLayer(layer, c.shape, await read(x));
    expect(maxAbsDiff(await read(w), ref.weights)).toBeLessThan(1e-5);
    // Query (0, 0) is causal on axis 0: only its first window row is visible.
    const sliced = w.slice([0, 0, 0, 0, 0], [1, 1, 1, 1, 9]);
    const row = await read(sliced);
    sliced.dispose();
    expect(Array.from(row.slice(3))).toEqual([0, 0, 0, 0, 0, 0]);
    expect(row[0] + row[1] + row[2]).toBeCloseTo(1, 5);
    tf.dispose([x, w]);
    disposeLayer(layer);
  });

  test('attnDropout: training runs the split ops (a tiny rate matches the fused op, 0.5 changes it)', async () => {
    const args = {numHeads: 2, kernelSize: 3, useRelPosBias: true};
    const shape = [2, 5, 5, 8];
    const tiny = neighborhoodAttention2d({...args, attnDropout: 1e-7});
    const half = neighborhoodAttention2d({...args, attnDropout: 0.5});
    const {x, fused, split, inference, dropped} = withFixedDropoutMask(() => {
      buildSeeded(tiny, shape);
      buildSeeded(half, shape);
      const x = seededTensor(shape, 9);
      return {
        x,
        fused: tiny.apply(x) as tf.Tensor,
        split: tiny.apply(x, {training: true}) as tf.Tensor,
        inference: half.apply(x, {training: false}) as tf.Tensor,
        dropped: half.apply(x, {training: true}) as tf.Tensor,
      };
    });
    const fusedValues = await read(fused);
    expect(maxAbsDiff(await read(split), fusedValues)).toBeLessThan(tolerance(1e-5, fusedValues));
    expect(maxAbsDiff(await read(inference), fusedValues)).toBe(0);
    expect(maxAbsDiff(await read(dropped), fusedValues)).toBeGreaterThan(1e-3);
    expect(Array.from(await read(dropped)).every(Number.isFinite)).toBe(true);
    tf.dispose([x, fused, split, inference, dropped]);
    disposeLayer(tiny);
    disposeLayer(half);
  });

  test('causal 1-D: an output never depends on later inputs', async () => {
    const layer = neighborhoodAttention1d({numHeads: 2, kernelSize: 4, isCausal: true, useRelPosBias: true});
    const shape = [1, 9, 8];
    buildSeeded(layer, shape);
    const x = seededTensor(shape, 11);
    const changed = tf.concat([x.slice([0, 0, 0], [1, 5, 8]), seededTensor([1, 4, 8], 12)], 1);
    const [a, b] = [layer.apply(x) as tf.Tensor, layer.apply(changed) as tf.Tensor];
    const part = (t: tf.Tensor, from: number, n: number) => tf.tidy(() => t.slice([0, from, 0], [1, n, 8]));
    const [a0, b0, a5, b5] = [part(a, 0, 5), part(b, 0, 5), part(a, 5, 4), part(b, 5, 4)];
    expect(maxAbsDiff(await read(a0), await read(b0))).toBe(0);
    expect(maxAbsDiff(await read(a5), await read(b5))).toBeGreaterThan(1e-4);
    tf.dispose([x, changed, a, b, a0, b0, a5, b5]);
    disposeLayer(layer);
  });

  test('gradients w.r.t. the input and every weight match central finite differences (fused and split)', async () => {
    const shape = [1, 4, 5, 8];
    for (const training of [false, true]) {
      await withFixedDropoutMaskAsync(async () => {
        // In training the split path runs with a real dropout rate; its mask is pinned (withFixedDropoutMask) so
        // every evaluation, the gradient's included, drops the same weights.
        const layer = neighborhoodAttention2d({numHeads: 2, numKvHeads: 1, kernelSize: 3, useRelPosBias: true,
                                               attnDropout: training ? 0.25 : 0});
        buildSeeded(layer, shape, 21);
        const x = seededTensor(shape, 22);
        const R = seededTensor(shape, 23);
        if (training) {  // the mask drops something: the training output differs from inference
          const [dropped, inference] = [layer.apply(x, {training: true}) as tf.Tensor, layer.apply(x) as tf.Tensor];
          expect(maxAbsDiff(await read(dropped), await read(inference))).toBeGreaterThan(1e-3);
          tf.dispose([dropped, inference]);
        }
        const dx = tf.grad((input: tf.Tensor) => weightedSum(layer, input, R, training))(x);
        await expectDirectionalMatch('input', dx, delta => first(weightedSum(layer, tf.add(x, delta), R, training)),
                                     31);
        const variables = layer.trainableWeights.map(w => w.read() as tf.Variable);
        const {grads} = tf.variableGrads(() => weightedSum(layer, x, R, training), variables);
        expect(Object.keys(grads).length).toBe(5);
        for (const [i, variable] of variables.entries()) {
          const original = variable.clone();
          await expectDirectionalMatch(variable.name, grads[variable.name], async delta => {
            variable.assign(tf.add(original, delta));
            const value = await first(weightedSum(layer, x, R, training));
            variable.assign(original);
            return value;
          }, 41 + 2 * i);
          original.dispose();
        }
        tf.dispose([x, R, dx, ...Object.values(grads)]);
        disposeLayer(layer);
      });
    }
  });

  test('model.fit on synthetic data lowers the loss; tf.variableGrads + an optimizer do too', async () => {
    const input = tf.input({shape: [6, 6, 8]});
    const na = neighborhoodAttention2d({numHeads: 2, kernelSize: 3, useRelPosBias: true});
    const pooled = tf.layers.globalAveragePooling2d({}).apply(na.apply(input)) as tf.SymbolicTensor;
    const model = tf.model({inputs: input, outputs: tf.layers.dense({units: 1}).apply(pooled) as tf.SymbolicTensor});
    const seeded = model.getWeights().map((w, i) => seededTensor(w.shape, 90 + i, 0.3));
    model.setWeights(seeded);  // deterministic: the same run on every backend
    tf.dispose(seeded);
    model.compile({optimizer: tf.train.adam(2e-2), loss: 'meanSquaredError'});
    const x = seededTensor([16, 6, 6, 8], 51);
    // The target needs spatial mixing: channel 0 of the top-left corner against channel 1 of the centre.
    const y = tf.tidy(() => tf.sub(x.slice([0, 0, 0, 0], [16, 2, 2, 1]).sum([1, 2]),
                                   x.slice([0, 2, 2, 1], [16, 2, 2, 1]).sum([1, 2])));
    // The Dense head trips IS_TEST on tensorflow through tfjs's fused matMul (see withoutIsTestOnTensorflow).
    const history = await withoutIsTestOnTensorflow(
        () => model.fit(x, y, {epochs: 12, batchSize: 8, shuffle: false, verbose: 0}));
    const losses = history.history.loss as number[];
    expect(losses[losses.length - 1]).toBeLessThan(0.5 * losses[0]);

    const layer = neighborhoodAttention1d({numHeads: 2, kernelSize: 3});
    const seq = seededTensor([4, 7, 8], 52);
    const target = seededTensor([4, 7, 8], 53);
    buildSeeded(layer, seq.shape);
    const optimizer = tf.train.adam(3e-2);
    const loss = () => tf.losses.meanSquaredError(target, layer.apply(seq) as tf.Tensor) as tf.Scalar;
    const before = await first(loss());
    for (let step = 0; step < 20; step++) {
      tf.tidy(() => {
        const {grads} = tf.variableGrads(loss, layer.trainableWeights.map(w => w.read() as tf.Variable));
        optimizer.applyGradients(grads as Parameters<typeof optimizer.applyGradients>[0]);
      });
    }
    const after = await first(loss());
    expect(after).toBeLessThan(0.7 * before);
    tf.dispose([x, y, seq, target]);
    optimizer.dispose();
    disposeLayer(layer);
    model.dispose();
  });

  test('no tensor leaks across predict, fit, attentionWeights and dispose', async () => {
    const x = seededTensor([4, 5, 5, 8], 61);
    const y = seededTensor([4, 1], 62);
    const before = tf.memory().numTensors, dataIdsBefore = tf.backend().numDataIds();
    const input = tf.input({shape: [5, 5, 8]});
    const na = neighborhoodAttention2d({numHeads: 2, numKvHeads: 1, kernelSize: 3, useRelPosBias: true,
                                        attnDropout: 0.1, projDropout: 0.1, kernelRegularizer: 'l1l2'});
    const pooled = tf.layers.globalAveragePooling2d({}).apply(na.apply(input)) as tf.SymbolicTensor;
    const model = tf.model({inputs: input, outputs: tf.layers.dense({units: 1}).apply(pooled) as tf.SymbolicTensor});
    model.compile({optimizer: 'adam', loss: 'meanSquaredError'});
    const afterBuild = tf.memory().numTensors;
    tf.dispose(model.predict(x) as tf.Tensor);
    expect(tf.memory().numTensors).toBe(afterBuild);
    await withoutIsTestOnTensorflow(() => model.fit(x, y, {epochs: 2, batchSize: 2, verbose: 0}));  // numTensors below
    tf.dispose(model.predict(x) as tf.Tensor);
    tf.dispose(na.attentionWeights(x));
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(tf.backend().numDataIds()).toBe(dataIdsBefore);  // on tensorflow: TensorFlow's own tensors
    tf.dispose([x, y]);
  });
});

describeAllBackends('NA layers: serialization', () => {
  const variants: Array<{cls: LayerClass, args: NeighborhoodAttentionArgs, shape: number[]}> = [
    {cls: NeighborhoodAttention1D, args: {numHeads: 2, kernelSize: 3, dilation: 2, isCausal: true}, shape: [7, 8]},
    {
      cls: NeighborhoodAttention2D,
      args: {numHeads: 4, numKvHeads: 2, kernelSize: [3, 2], stride: [2, 1], useRelPosBias: true, scale: 0.25,
             attnDropout: 0.1, projDropout: 0.2, qkvBias: false, kernelInitializer: 'heNormal',
             biasInitializer: tf.initializers.constant({value: 0.1}), kernelRegularizer: tf.regularizers.l2(),
             biasRegularizer: 'l1l2'},
      shape: [5, 6, 8],
    },
    {cls: NeighborhoodAttention3D, args: {numHeads: 2, kernelSize: [2, 3, 3], isCausal: [true, false, false],
                                          useRelPosBias: true},
     shape: [3, 4, 4, 4]},
  ];

  for (const v of variants) {
    const name = (v.cls as unknown as {className: string}).className;

    test(`${name}: getConfig -> fromConfig round trip`, () => {
      const layer = new v.cls({...v.args, name: `na_${name}`});
      const config = layer.getConfig();
      const Cls = v.cls as unknown as {fromConfig: (c: unknown, config: unknown) => NeighborhoodAttentionGeneric};
      const copy = Cls.fromConfig(v.cls, JSON.parse(JSON.stringify(config)));
      expect(copy).toBeInstanceOf(v.cls);
      expect(asJSON(copy.getConfig())).toEqual(asJSON(config));
      expect(config.numHeads).toBe(v.args.numHeads);
      expect(config.kernelSize).toEqual(v.args.kernelSize);
      expect(config.name).toBe(`na_${name}`);
    });

    test(`${name}: a model saves and loads through memory and the file system with identical outputs`,
         async () => {
           const input = tf.input({shape: v.shape});
           const layer = new v.cls({...v.args});
           const output = layer.apply(input) as tf.SymbolicTensor;
           const model = tf.model({inputs: input, outputs: output});
           const seeded = model.getWeights().map((w, i) => seededTensor(w.shape, 70 + i, 0.5));
           model.setWeights(seeded);
           tf.dispose(seeded);
           const x = seededTensor([2, ...v.shape], 80);
           const expected = (model.predict(x) as tf.Tensor).dataSync();

           let artifacts: tf.io.ModelArtifacts | null = null;
           await model.save(tf.io.withSaveHandler(async a => {
             artifacts = a;
             return {modelArtifactsInfo: {dateSaved: new Date(), modelTopologyType: 'JSON'}};
           }));
           const fromMemory = await tf.loadLayersModel(tf.io.fromMemory(artifacts!));
           expect(fromMemory.layers[1]).toBeInstanceOf(v.cls);
           expect(asJSON(fromMemory.layers[1].getConfig())).toEqual(asJSON(layer.getConfig()));
           expect(Array.from((fromMemory.predict(x) as tf.Tensor).dataSync())).toEqual(Array.from(expected));

           const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'natten-layers-'));
           try {
             await model.save(nodeFileSystem(dir));
             const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
             expect(json.format).toBe('layers-model');
             expect(json.weightsManifest[0].paths).toEqual(['weights.bin']);
             const bytes = json.weightsManifest[0].weights.reduce(
                 (n: number, w: {shape: number[]}) => n + 4 * w.shape.reduce((p, q) => p * q, 1), 0);
             expect(fs.statSync(path.join(dir, 'weights.bin')).size).toBe(bytes);
             const fromDisk = await tf.loadLayersModel(nodeFileSystem(dir));
             expect(Array.from((fromDisk.predict(x) as tf.Tensor).dataSync())).toEqual(Array.from(expected));
             fromDisk.dispose();
           } finally {
             fs.rmSync(dir, {recursive: true, force: true});
           }
           fromMemory.dispose();
           model.dispose();
           x.dispose();
         });
  }

  test('nodeFileSystem rejects a bad directory and reports a missing model clearly', async () => {
    expect(() => nodeFileSystem('')).toThrow(/^nodeFileSystem: dir must be a non-empty path string, got ""/);
    const missing = path.join(os.tmpdir(), 'natten-no-such-model-dir', 'x');
    await expect(tf.loadLayersModel(nodeFileSystem(missing)))
        .rejects.toThrow(/nodeFileSystem: cannot read .*model\.json/);
  });

  test('the layers namespace and factories make the registered classes', () => {
    expect(nattenLayers.neighborhoodAttention1d({numHeads: 1, kernelSize: 2})).toBeInstanceOf(NeighborhoodAttention1D);
    expect(nattenLayers.neighborhoodAttention2d({numHeads: 1, kernelSize: 2})).toBeInstanceOf(NeighborhoodAttention2D);
    expect(neighborhoodAttention3d({numHeads: 1, kernelSize: 2}).getClassName()).toBe('NeighborhoodAttention3D');
    const map = tf.serialization.SerializationMap.getMap().classNameMap;
    for (const cls of [NeighborhoodAttention1D, NeighborhoodAttention2D, NeighborhoodAttention3D]) {
      expect(map[cls.className][0]).toBe(cls);
    }
  });
}, USER_BACKENDS);

describeAllBackends('NA layers: bad arguments', () => {
  const base: NeighborhoodAttentionArgs = {numHeads: 4, kernelSize: 3};
  const constructorCases: Array<[string, unknown, RegExp]> = [
    ['numHeads missing', {kernelSize: 3}, /numHeads must be a positive integer, got undefined/],
    ['numHeads 0', {...base, numHeads: 0}, /numHeads must be a positive integer, got 0$/],
    ['numHeads 2.5', {...base, numHeads: 2.5}, /numHeads must be a positive integer, got 2\.5/],
    ['numHeads "4"', {...base, numHeads: '4'}, /numHeads must be a positive integer, got "4"/],
    ['numKvHeads 0', {...base, numKvHeads: 0}, /numKvHeads must be a positive integer, got 0/],
    ['numKvHeads 3 of 4 heads', {...base, numKvHeads: 3}, /numKvHeads=3 must divide numHeads=4/],
    ['kernelSize missing', {numHeads: 4}, /kernelSize is required/],
    ['kernelSize 1', {...base, kernelSize: 1}, /kernelSize must be >= 2, got 1/],
    ['kernelSize of 3 axes', {...base, kernelSize: [3, 3, 3]},
     /kernelSize must be a number or an array of 2 numbers \(one per spatial axis\), got \[3, 3, 3\]/],
    ['kernelSize[1] 1.5', {...base, kernelSize: [3, 1.5]}, /kernelSize\[1\] must be a finite integer, got 1\.5/],
    ['stride 4 > kernel 3', {...base, stride: 4}, /stride must be in \[1, kernelSize\[0\]=3\], got 4/],
    ['dilation 0', {...base, dilation: [1, 0]}, /dilation\[1\] must be >= 1, got 0/],
    ['isCausal "yes"', {...base, isCausal: 'yes'}, /isCausal must be a boolean, got "yes"/],
    ['isCausal of 1 axis', {...base, isCausal: [true]}, /isCausal must be a boolean or an array of 2 booleans/],
    ['qkvBias 1', {...base, qkvBias: 1}, /qkvBias must be a boolean, got 1/],
    ['useRelPosBias "no"', {...base, useRelPosBias: 'no'}, /useRelPosBias must be a boolean, got "no"/],
    ['scale NaN', {...base, scale: NaN}, /scale must be a finite number .*got NaN/],
    ['attnDropout 1', {...base, attnDropout: 1}, /attnDropout must be a number in \[0, 1\), got 1/],
    ['projDropout -0.1', {...base, projDropout: -0.1}, /projDropout must be a number in \[0, 1\), got -0\.1/],
    ['kernelInitializer "nope"', {...base, kernelInitializer: 'nope'},
     /kernelInitializer="nope" is not a known initializer/],
    ['kernelInitializer 42', {...base, kernelInitializer: 42}, /kernelInitializer must be a string identifier.*got 42/],
    ['biasRegularizer "nope"', {...base, biasRegularizer: 'nope'}, /biasRegularizer="nope" is not a known regularizer/],
    ['kernelRegularizer an initializer', {...base, kernelRegularizer: {className: 'Zeros', config: {}}},
     /kernelRegularizer="Zeros" names class Zeros, which is not a regularizer/],
    ['args missing', undefined, /args must be an object with at least numHeads and kernelSize, got undefined/],
  ];
  for (const [title, args, message] of constructorCases) {
    test(`constructor rejects ${title}`, () => {
      expect(() => new NeighborhoodAttention2D(args as NeighborhoodAttentionArgs))
          .toThrow(new RegExp(`^NeighborhoodAttention2D: ${message.source}`));
    });
  }

  test('the error prefix names the class of each rank', () => {
    expect(() => neighborhoodAttention1d({numHeads: 0, kernelSize: 3})).toThrow(/^NeighborhoodAttention1D: numHeads/);
    expect(() => neighborhoodAttention3d({numHeads: 1, kernelSize: [3, 3]}))
        .toThrow(/^NeighborhoodAttention3D: kernelSize must be a number or an array of 3 numbers/);
  });

  // [title, args, input shape, message for a concrete input, message for a symbolic input (batch unknown)]
  const buildCases: Array<[string, NeighborhoodAttentionArgs, number[], RegExp, RegExp]> = [
    ['channels not divisible by numHeads', {numHeads: 4, kernelSize: 3}, [1, 6, 6, 30],
     /numHeads=4 must divide the input channels=30 \(shape \[1,6,6,30\]\)/,
     /numHeads=4 must divide the input channels=30 \(shape \[,6,6,30\]\)/],
    ['an input of rank 3', {numHeads: 2, kernelSize: 3}, [2, 8, 16],
     /input must have rank 4 \(\[batch, Y, X, channels\]\), got rank 3 with shape \[2,8,16\]/,
     /input must have rank 4 \(\[batch, Y, X, channels\]\), got rank 3 with shape \[,8,16\]/],
    ['a window larger than the input', {numHeads: 2, kernelSize: 5, dilation: 2}, [1, 8, 12, 8],
     /kernelSize\[0\]=5 with dilation\[0\]=2 needs input spatial axis 0 >= 10, got 8/,
     /kernelSize\[0\]=5 with dilation\[0\]=2 needs input spatial axis 0 >= 10, got 8/],
  ];
  for (const [title, args, shape, concrete, symbolic] of buildCases) {
    test(`build rejects ${title}`, () => {
      const before = tf.memory().numTensors;
      const x = tf.zeros(shape);
      expect(() => neighborhoodAttention2d(args).apply(x))
          .toThrow(new RegExp(`^NeighborhoodAttention2D: ${concrete.source}`));
      expect(() => neighborhoodAttention2d(args).apply(tf.input({shape: shape.slice(1)})))
          .toThrow(new RegExp(`^NeighborhoodAttention2D: ${symbolic.source}`));
      x.dispose();
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  test('a built layer rejects other channels, and attentionWeights needs a built layer', () => {
    const layer = neighborhoodAttention2d({numHeads: 2, kernelSize: 3});
    const x = tf.zeros([1, 4, 4, 8]);
    expect(() => layer.attentionWeights(x)).toThrow(/^NeighborhoodAttention2D: attentionWeights needs a built layer/);
    tf.dispose(layer.apply(x) as tf.Tensor);
    const other = tf.zeros([1, 4, 4, 16]);
    expect(() => layer.apply(other))
        .toThrow(/^NeighborhoodAttention2D: input channels=16 differ from the 8 the layer was built with/);
    tf.dispose([x, other]);
    disposeLayer(layer);
  });
}, USER_BACKENDS);
