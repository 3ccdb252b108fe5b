/**
 * Drop-in use in an existing model: a digit classifier saved with tfjs's built-in layers only
 * (test/fixtures/digits-cnn, made by test/fixtures/make-digits-cnn.ts) is loaded, a NeighborhoodAttention2D
 * block is inserted after its patch embedding with the functional API (the loaded layers and their weights
 * reused), the result is fine-tuned for one epoch (the new block and the head; the pretrained convolutions
 * frozen), saved and loaded again. On `tensorflow` and `cpu`.
 */
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {neighborhoodAttention2d, nodeFileSystem} from '../src/index';
import {accuracy, digits} from './digits';
import {Expected, FIXTURE_DIR, PROBES, TEST} from './fixtures/make-digits-cnn';
import {describeAllBackends, USER_BACKENDS} from './harness';
import {withoutIsTestOnTensorflow} from './tensorflow_backend';
import {maxAbsDiff} from './util';

const expected: Expected = JSON.parse(fs.readFileSync(path.join(FIXTURE_DIR, 'expected.json'), 'utf8'));
const FINE_TUNE = {start: 3000, count: 640};

/** The base model's layers, in order: what the fixture must hold (built-in classes only). */
const BASE_LAYERS = [['patch_embed', 'Conv2D'], ['mix', 'Conv2D'], ['flatten', 'Flatten'], ['classifier', 'Dense']];

/**
 * input -> patch_embed -> x + NA(x) -> mix -> flatten -> classifier, every layer but the NA block and the
 * residual add taken from `base`. The NA block's output projection starts at zero, so the new model starts
 * out computing exactly what `base` computes.
 */
function insertNeighborhoodAttention(base: tf.LayersModel): tf.LayersModel {
  const input = tf.input({shape: [28, 28, 1]});
  const tokens = base.getLayer('patch_embed').apply(input) as tf.SymbolicTensor;  // [7, 7, 16]
  const na = neighborhoodAttention2d({name: 'na', numHeads: 2, kernelSize: 3, useRelPosBias: true,
                                      kernelInitializer: tf.initializers.glorotUniform({seed: 7})});
  const attended = na.apply(tokens) as tf.SymbolicTensor;
  const values = na.getWeights();
  const zeroed = na.weights.map((w, i) => (/proj_(kernel|bias)$/.test(w.originalName) ? tf.zerosLike(values[i])
                                                                                       : values[i].clone()));
  na.setWeights(zeroed);
  tf.dispose(zeroed);
  const residual = tf.layers.add({name: 'na_residual'}).apply([tokens, attended]) as tf.SymbolicTensor;
  let x = residual;
  for (const name of ['mix', 'flatten', 'classifier']) {
    x = base.getLayer(name).apply(x) as tf.SymbolicTensor;
  }
  return tf.model({inputs: input, outputs: x, name: 'digits_cnn_with_na'});
}

describeAllBackends('drop-in NeighborhoodAttention2D in a saved tfjs model', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'natten-dropin-'));
  });
  afterAll(() => fs.rmSync(dir, {recursive: true, force: true}));

  it('loads the built-in-only model, inserts NA, fine-tunes one epoch, saves and reloads it', async () => {
    const tensorsBefore = tf.memory().numTensors, dataIdsBefore = tf.backend().numDataIds();
    const base = await tf.loadLayersModel(nodeFileSystem(FIXTURE_DIR));
    expect(base.layers.map(l => [l.name, l.getClassName()])).toEqual(BASE_LAYERS);
    const probes = digits(PROBES.start, PROBES.count), test = digits(TEST.start, TEST.count);
    const train = digits(FINE_TUNE.start, FINE_TUNE.count);
    const baseProbe = base.predict(probes.x) as tf.Tensor;
    expect(maxAbsDiff(baseProbe.dataSync(), expected.probeOutputs.flat())).toBeLessThan(1e-5);
    const baseAccuracy = tf.tidy(() => accuracy(base.predict(test.x) as tf.Tensor, test.labels));
    expect(baseAccuracy).toBeCloseTo(expected.testAccuracy, 2);

    const model = insertNeighborhoodAttention(base);
    expect(model.layers.map(l => l.getClassName())).toEqual(
        ['InputLayer', 'Conv2D', 'NeighborhoodAttention2D', 'Add', 'Conv2D', 'Flatten', 'Dense']);
    expect(model.getLayer('patch_embed')).toBe(base.getLayer('patch_embed'));  // the loaded layer, its weights
    const start = model.predict(probes.x) as tf.Tensor;
    expect(maxAbsDiff(start.dataSync(), baseProbe.dataSync())).toBeLessThan(1e-6);

    // Fine-tune the new block and the head; the pretrained convolutions stay frozen (as usual, and tfjs's cpu
    // backend computes convolution filter gradients one element at a time: seconds per batch).
    for (const name of ['patch_embed', 'mix']) {
      model.getLayer(name).trainable = false;
    }
    model.compile({optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy'});
    const lossOf = () => tf.tidy(() => (model.evaluate(train.x, train.y, {batchSize: 64}) as tf.Scalar).dataSync()[0]);
    const lossBefore = lossOf();
    const frozen = model.getLayer('mix').getWeights()[0].dataSync().slice();
    const naBefore = model.getLayer('na').getWeights().map(w => w.dataSync().slice());
    const history = await withoutIsTestOnTensorflow(  // Dense on tensorflow: see there; numTensors checked below
        () => model.fit(train.x, train.y, {epochs: 1, batchSize: 32, shuffle: false, verbose: 0}));
    expect(history.history.loss.length).toBe(1);
    expect(lossOf()).toBeLessThan(lossBefore);
    const naAfter = model.getLayer('na').getWeights();
    expect(naAfter.some((w, i) => maxAbsDiff(w.dataSync(), naBefore[i]) > 1e-4)).toBe(true);
    expect(maxAbsDiff(model.getLayer('mix').getWeights()[0].dataSync(), frozen)).toBe(0);
    const tunedAccuracy = tf.tidy(() => accuracy(model.predict(test.x) as tf.Tensor, test.labels));
    expect(tunedAccuracy).toBeGreaterThan(baseAccuracy - 0.02);

    await model.save(nodeFileSystem(dir));
    const saved = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
    expect(saved.modelTopology.config.layers.map((l: {class_name: string}) => l.class_name))
        .toContain('NeighborhoodAttention2D');
    const reloaded = await tf.loadLayersModel(nodeFileSystem(dir));
    const tuned = model.predict(test.x) as tf.Tensor, again = reloaded.predict(test.x) as tf.Tensor;
    expect(maxAbsDiff(again.dataSync(), tuned.dataSync())).toBe(0);

    tf.dispose([baseProbe, start, tuned, again, probes.x, probes.y, test.x, test.y, train.x, train.y]);
    model.optimizer.dispose();
    for (const m of [base, model, reloaded]) {
      m.dispose();
    }
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    expect(tf.backend().numDataIds()).toBe(dataIdsBefore);
  });
}, USER_BACKENDS);
