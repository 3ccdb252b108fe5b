/**
 * The `tensorflow` backend the other suites run on is the real one: tfjs-node-gpu's native backend over
 * TensorFlow 2.21 (set up by `npm run setup:tfjs-node`), sharing this project's tfjs-core, with tfjs-natten's
 * NA kernels registered for it and TensorFlow running every other op. Fails, saying to run the set-up, when
 * it is missing.
 */
import * as tf from '@tensorflow/tfjs';
import * as path from 'path';
import {kernelNames, na2d, NATTEN_TF_OPS} from '../src/index';
import {useBackend, CPU, TENSORFLOW} from './harness';
import {EXPECTED_TENSORFLOW_VERSION, loadTensorflowBackend, requireTensorflowBackend} from './tensorflow_backend';
import {expectNoLeak, randArray, rng} from './util';

interface NativeBackend extends tf.KernelBackend {
  binding: {TF_Version: string};
  tensorMap: {get(dataId: object): {id: number, values: unknown}};
  isGPUPackage: boolean;
  isUsingGpuDevice: boolean;
}

const native = () => tf.backend() as NativeBackend;

describe('the real tensorflow backend', () => {
  beforeAll(() => useBackend(TENSORFLOW));
  afterAll(() => useBackend(CPU));

  it('is tfjs-node-gpu over TensorFlow 2.21, set up (else: run `npm run setup:tfjs-node`)', () => {
    requireTensorflowBackend();
    expect(tf.getBackend()).toBe('tensorflow');
    expect(native().constructor.name).toBe('NodeJSKernelBackend');
    expect(native().binding.TF_Version).toBe(EXPECTED_TENSORFLOW_VERSION);
    expect(native().isGPUPackage).toBe(true);
    expect(native().isUsingGpuDevice).toBe(false);  // the tensorflow-cpu wheel's library
  });

  it('shares this project\'s one @tensorflow/tfjs-core (one kernel registry)', () => {
    const node = require('@tensorflow/tfjs-node-gpu') as typeof tf;
    expect(node.engine()).toBe(tf.engine());
    const pkg = path.dirname(require.resolve('@tensorflow/tfjs-node-gpu/package.json'));
    const tfjsOfPackage = path.dirname(require.resolve('@tensorflow/tfjs/package.json', {paths: [pkg]}));
    expect(require.resolve('@tensorflow/tfjs-core/package.json', {paths: [tfjsOfPackage]}))
        .toBe(require.resolve('@tensorflow/tfjs-core/package.json'));
  });

  it('runs tfjs-natten\'s kernels for the NA ops (as TensorFlow ops: tensorflow_ops.test.ts), and TensorFlow for the rest', async () => {
    const names = [kernelNames.NattenNAForward, kernelNames.NattenNABackward, kernelNames.NattenQKForward,
                   kernelNames.NattenQKBackward, kernelNames.NattenAVForward, kernelNames.NattenAVBackward];
    for (const name of names) {
      expect(tf.getKernel(name, 'tensorflow')).toBeDefined();
    }
    const q = tf.tensor(randArray(rng(1), 1 * 6 * 7 * 2 * 4), [1, 6, 7, 2, 4]);
    const profile = await tf.profile(() => tf.grad((x: tf.Tensor) => tf.sum(tf.square(na2d(x, q, q, {kernelSize: 3}))))(q));
    const kernels = profile.kernelNames;
    expect(kernels).toEqual(expect.arrayContaining([kernelNames.NattenNAForward, kernelNames.NattenNABackward]));
    expect(kernels.some(k => /Gather/.test(k))).toBe(false);  // not the composed fallback
    // Where a tensor's data lives: a TensorFlow op's output is a native TensorFlow tensor (a handle id), and so
    // is an NA kernel's (it runs tfjs-natten's TensorFlow op); the host kernels' (NATTEN_TF_OPS off) is the host
    // array they wrote (uploaded to TensorFlow when a TensorFlow op first reads it).
    const [squared, attended] = [tf.square(q), na2d(q, q, q, {kernelSize: 3})];
    const entry = (t: tf.Tensor) => native().tensorMap.get(t.dataId);
    expect(entry(squared).id).toBeGreaterThanOrEqual(0);
    expect(entry(squared).values).toBeNull();
    expect(entry(attended).values).toBeNull();
    tf.env().set(NATTEN_TF_OPS, false);
    const hosted = na2d(q, q, q, {kernelSize: 3});
    tf.env().set(NATTEN_TF_OPS, true);
    expect(entry(hosted).values).toBeInstanceOf(Float32Array);
    hosted.dispose();
    tf.dispose([q, squared, attended, profile.result as tf.Tensor]);
  });

  it('tf.memory() counts tensors there; NA ops and their gradients leave no tensor and no native tensor', () => {
    const q = tf.tensor(randArray(rng(2), 1 * 5 * 6 * 2 * 4), [1, 5, 6, 2, 4]);
    expect(tf.memory().unreliable).toBe(true);  // tfjs-node does not report its native memory in bytes
    const tensors = tf.memory().numTensors, dataIds = native().numDataIds();
    const [out, g] = expectNoLeak(() => [na2d(q, q, q, {kernelSize: 3}),
                                         tf.grad((x: tf.Tensor) => tf.sum(na2d(x, q, q, {kernelSize: 3})))(q)]);
    expect(tf.memory().numTensors).toBe(tensors + 2);
    tf.dispose([out, g]);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(native().numDataIds()).toBe(dataIds);
    q.dispose();
  });

  it('IS_TEST catches a kernel that leaks a tensor there', () => {
    expect(tf.env().getBool('IS_TEST')).toBe(true);
    tf.registerKernel({
      kernelName: 'NattenTestLeaky', backendName: 'tensorflow',
      kernelFunc: ({backend}) => {
        const b = backend as tf.KernelBackend;
        b.write(new Float32Array([1]), [1], 'float32');  // never returned, never freed
        return {dataId: b.write(new Float32Array([2]), [1], 'float32'), shape: [1], dtype: 'float32'};
      },
    });
    try {
      expect(() => tf.engine().runKernel('NattenTestLeaky', {}, {}))
          .toThrow(/Backend 'tensorflow' has an internal memory leak \(1 data ids\) after running 'NattenTestLeaky'/);
    } finally {
      tf.unregisterKernel('NattenTestLeaky', 'tensorflow');
    }
  });

  it('without the set-up, says to run it', () => {
    const missing = loadTensorflowBackend('@tensorflow/tfjs-node-gpu-not-installed');
    expect(missing.tensorflowVersion).toBeNull();
    expect(missing.reason).toMatch(/^the real tensorflow backend is not set up: @tensorflow\/tfjs-node-gpu-not-installed cannot be loaded \(Cannot find module .*\)\. Run `npm run setup:tfjs-node`/);
    expect(tf.getBackend()).toBe('tensorflow');  // a failed load leaves the active backend alone
  });
});
