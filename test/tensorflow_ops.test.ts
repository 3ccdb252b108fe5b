/**
 * NA as TensorFlow ops (natten_tf, native/src/tf) under the real `tensorflow` backend: the addon loads lazily
 * and registers the six ops; the NA kernels then run them with executeMultipleOutputs and copy nothing
 * through readSync / write; the results equal the host kernels' bit for bit; the ops check their own inputs
 * (they are public TensorFlow ops); the addon imports only the C API functions its README lists (those of
 * TensorFlow 2.9); loaded without TensorFlow it fails with a clear reason. Every other suite runs on these ops
 * as the `tensorflow` backend, and on the host kernels as `tensorflow (host kernels)` (test/harness.ts).
 */
import {execFileSync, spawnSync} from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import {na1d, na2d, na2dAV, na2dQK, na3d, NATTEN_TF_OPS, nativeStatus} from '../src/index';
import {isTfjsNodeBackend, loadTfOps, TfjsNodeBackend} from '../src/kernels/tensorflow/tf_ops';
import {CPU, TENSORFLOW, useBackend} from './harness';
import {problem} from './problems';
import {RefProblem} from './reference';
import {bytesOf, expectNoLeak, makeInputs, randArray, rng} from './util';

const root = path.join(__dirname, '..');

/** Loads tfjs-node-gpu and natten_tf in a fresh process (NATTEN_TF_GPU is read there), runs na2d, prints JSON. */
const GPU_SCRIPT = "const tf = require('@tensorflow/tfjs'); require('@tensorflow/tfjs-node-gpu');" +
    "const {na2d} = require('./src/index'); const {loadTfOps} = require('./src/kernels/tensorflow/tf_ops');" +
    "tf.setBackend('tensorflow'); const ops = loadTfOps(tf.backend());" +
    'const q = tf.tensor(Array.from({length: 168}, (_, i) => Math.sin(i)), [1, 6, 7, 1, 4]);' +
    'const out = Array.from(na2d(q, q, q, {kernelSize: 3}).dataSync());' +
    'console.log(JSON.stringify({gpuCompiled: ops.gpuCompiled, gpuKernels: ops.gpuKernels, output: out}))';
const addonPath = path.join(root, 'build', 'Release', 'natten_tf.node');

/** Every NA op and gradient of a problem, on the active backend, as plain arrays. */
function everything(p: RefProblem, seed: number): Float32Array[] {
  const x = makeInputs(p, seed);
  const fused = [na1d, na2d, na3d][p.naDim - 1];
  const inputs = [x.q, x.k, x.v, x.rpb, x.addK, x.addV].filter(t => t != null) as tf.Tensor[];
  const opts = (t: tf.Tensor[]) => ({
    ...x.options, rpb: x.rpb ? t[3] : undefined, additionalKeys: x.addK ? t[x.rpb ? 4 : 3] : undefined,
    additionalValues: x.addV ? t[x.rpb ? 5 : 4] : undefined,
  });
  const out = tf.tidy(() => {
    const [o, l] = fused(x.q, x.k, x.v, {...opts(inputs), returnLse: true});
    const dOut = tf.tensor(randArray(rng(seed + 1), o.size), o.shape);
    const grads = tf.grads((...t: tf.Tensor[]) => tf.add(tf.sum(tf.mul(fused(t[0], t[1], t[2], opts(t)), dOut)),
                                                          tf.sum(tf.sin(fused(t[0], t[1], t[2], {...opts(t), returnLse: true})[1]))))(inputs);
    const results = [o, l, ...grads];
    if (p.naDim === 2) {
      const split = (t: tf.Tensor[]) => na2dAV(tf.softmax(na2dQK(t[0], t[1], opts(t))), t[2], opts(t));
      results.push(split(inputs), ...tf.grads((...t: tf.Tensor[]) => tf.sum(tf.mul(split(t), dOut)))(inputs));
    }
    return results;
  });
  const arrays = out.map(t => t.dataSync() as Float32Array);
  tf.dispose(out);
  x.dispose();
  return arrays;
}

const CASES: RefProblem[] = [
  problem({spatial: [9, 11], kernelSize: [3, 4], dilation: [2, 1], isCausal: [false, true], heads: 4, headsKv: 2,
           headDim: 8, headDimV: 5, hasRpb: true, nExtra: 2, batch: 2}),
  problem({spatial: [30], kernelSize: [7], stride: [3], headDim: 16, hasRpb: true}),
  problem({spatial: [4, 5, 6], kernelSize: [2, 3, 3], isCausal: [true, false, true], headDim: 4, nExtra: 1}),
];

describe('NA as TensorFlow ops (natten_tf)', () => {
  beforeAll(() => useBackend(TENSORFLOW));
  afterAll(async () => {
    tf.env().set(NATTEN_TF_OPS, true);
    await useBackend(CPU);
  });

  it('loads on the first NA kernel run on tfjs-node and registers the six ops (GPU kernels only with NATTEN_TF_GPU=1)', () => {
    expect(isTfjsNodeBackend(tf.backend())).toBe(true);
    const ops = loadTfOps(tf.backend());
    expect(ops).not.toBeNull();
    expect(ops!.ops).toEqual(['NattenNAForward', 'NattenNABackward', 'NattenQKForward', 'NattenQKBackward',
                              'NattenAVForward', 'NattenAVBackward']);
    expect(ops!.gpuKernels).toBe(false);
    const status = nativeStatus().tensorflow;
    expect(status).toEqual({loaded: true, enabled: true, path: addonPath, reason: null});
  });

  it('the NA kernels run the ops on TensorFlow\'s tensors: no readSync, no write, native outputs', () => {
    const backend = tf.backend() as tf.KernelBackend & {tensorMap: {get(id: object): {id: number, values: unknown}}};
    const p = CASES[0];
    const x = makeInputs(p, 3);
    // Inputs made by a TensorFlow op live in TensorFlow; the NA ops must keep everything there.
    const [q, k, v] = tf.tidy(() => [x.q, x.k, x.v].map(t => tf.add(t, 0)));
    const readSync = jest.spyOn(backend, 'readSync');
    const write = jest.spyOn(backend, 'write');
    let out: tf.Tensor[] = [];
    try {
      out = tf.tidy(() => {
        const o = na2d(q, k, v, {...x.options, returnLse: true});
        const g = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => na2d(a, b, c, x.options))([q, k, v]);
        const logits = na2dQK(q, k, x.options);
        const av = na2dAV(logits, v, x.options);
        return [...o, ...g, logits, av];
      });
    } finally {
      readSync.mockRestore();
      write.mockRestore();
    }
    expect(readSync).not.toHaveBeenCalled();
    expect(write).not.toHaveBeenCalled();
    for (const t of out) {
      const entry = backend.tensorMap.get(t.dataId);
      expect(entry.values).toBeNull();  // a TensorFlow tensor, not host values
      expect(entry.id).toBeGreaterThanOrEqual(0);
    }
    tf.dispose([...out, q, k, v]);
    x.dispose();
  });

  it('with NATTEN_TF_OPS off the same kernels copy through readSync / write (the host kernels)', () => {
    const backend = tf.backend() as tf.KernelBackend;
    const q = tf.tidy(() => tf.add(tf.tensor(randArray(rng(4), 2 * 6 * 5 * 2 * 4), [2, 6, 5, 2, 4]), 0));
    tf.env().set(NATTEN_TF_OPS, false);
    const readSync = jest.spyOn(backend, 'readSync');
    try {
      tf.dispose(na2d(q, q, q, {kernelSize: 3}));
      expect(readSync).toHaveBeenCalledTimes(3);
      expect(nativeStatus().tensorflow.reason).toMatch(/^turned off by the flag NATTEN_TF_OPS/);
    } finally {
      readSync.mockRestore();
      tf.env().set(NATTEN_TF_OPS, true);
      q.dispose();
    }
  });

  for (const p of CASES) {
    it(`equal the host kernels bit for bit, forward and every gradient, split ops too: ${p.naDim}-D`, () => {
      const viaOps = expectNoLeak(() => everything(p, 9));
      tf.env().set(NATTEN_TF_OPS, false);
      const viaHost = everything(p, 9);
      tf.env().set(NATTEN_TF_OPS, true);
      expect(viaOps.length).toBe(viaHost.length);
      viaOps.forEach((a, i) => expect(bytesOf(a).equals(bytesOf(viaHost[i]))).toBe(true));
    });
  }

  it('each op checks its inputs (they are public TensorFlow ops) and names itself in the error', () => {
    const b = tf.backend() as unknown as TfjsNodeBackend;
    const {TF_ATTR_INT: INT, TF_ATTR_BOOL: BOOL, TF_ATTR_FLOAT: FLOAT} = b.binding;
    const window = [{name: 'kernel_size', type: INT, value: [3]}, {name: 'stride', type: INT, value: [1]},
                    {name: 'dilation', type: INT, value: [1]}, {name: 'is_causal', type: BOOL, value: [false]}];
    const q = tf.zeros([1, 8, 2, 4]), k = tf.zeros([1, 7, 2, 4]), small = tf.zeros([1, 2, 2, 4]);
    const run = (inputs: tf.Tensor[], attrs: Array<{name: string, type: number, value: unknown}>) =>
        tf.dispose(b.executeMultipleOutputs('NattenNAForward', attrs as never, inputs, 2));
    try {
      expect(() => run([q, k, k], [...window, {name: 'scale', type: FLOAT, value: 0.5}]))
          .toThrow(/NattenNAForward: key \[1, 7, 2, 4\] must match query \[1, 8, 2, 4\] in batch, spatial sizes and headDim/);
      expect(() => run([small, small, small], [...window, {name: 'scale', type: FLOAT, value: 0.5}]))
          .toThrow(/NattenNAForward: kernel\[2\] \* dilation\[2\] = 3 \* 1 must be <= length\[2\]=2/);
      expect(() => run([q, q, q, q], [...window, {name: 'scale', type: FLOAT, value: 0.5}, {name: 'N', type: INT, value: 1}]))
          .toThrow(/NattenNAForward: the optional inputs \(from input 3\) must number 0 for these flags, got N=1/);
      expect(() => run([q, q, q], [...window.slice(0, 3), {name: 'is_causal', type: BOOL, value: [false, true]},
                                   {name: 'scale', type: FLOAT, value: 0.5}]))
          .toThrow(/NattenNAForward: kernel_size, stride, dilation and is_causal must have one entry per spatial axis/);
    } finally {
      tf.dispose([q, k, small]);
    }
  });

  it('imports only the TensorFlow C API functions its README lists (all in TensorFlow 2.9)', () => {
    const readme = fs.readFileSync(path.join(root, 'native', 'src', 'tf', 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## TensorFlow C API used'), readme.indexOf('How this was checked'));
    const listed = new Set<string>();
    for (const m of section.matchAll(/`(TF_\w+|_\w+)`/g)) {
      listed.add(m[1].startsWith('_') ? `TF_OpKernelConstruction${m[1]}` : m[1]);
    }
    const imported = execFileSync('nm', ['-D', '--undefined-only', addonPath], {encoding: 'utf8'})
                         .split('\n').map(l => l.trim().split(/\s+/).pop()!).filter(s => /^TF_/.test(s));
    expect(imported.length).toBeGreaterThan(20);
    expect(imported.filter(s => !listed.has(s))).toEqual([]);
    expect(execFileSync('readelf', ['-d', addonPath], {encoding: 'utf8'})).not.toMatch(/RPATH|RUNPATH/);
  });
});

describe('natten_tf built with its GPU kernels (compiled in CI; never run: no GPU build of TensorFlow here)', () => {
  // .ci/run builds them (npm run build:native -- --tf-gpu); a local build without them skips this, visibly.
  const built = (() => {
    const out = spawnSync(process.execPath, ['--require', 'tsx/cjs', '-e', GPU_SCRIPT],
                          {cwd: root, encoding: 'utf8', env: {...process.env, NATTEN_TF_GPU: '0', TF_CPP_MIN_LOG_LEVEL: '2'}});
    return out.status === 0 && JSON.parse(out.stdout.trim().split('\n').pop()!).gpuCompiled === true;
  })();
  (built ? it : it.skip)('registers them for the GPU device with NATTEN_TF_GPU=1; a CPU-only TensorFlow still runs ' +
                         'the ops on its CPU kernels', () => {
    const run = (flag: string) => JSON.parse(execFileSync(process.execPath, ['--require', 'tsx/cjs', '-e', GPU_SCRIPT], {
      cwd: root, encoding: 'utf8', env: {...process.env, NATTEN_TF_GPU: flag, TF_CPP_MIN_LOG_LEVEL: '2'},
    }).trim().split('\n').pop()!);
    const on = run('1'), off = run('0');
    expect(on).toMatchObject({gpuCompiled: true, gpuKernels: true});
    expect(off).toMatchObject({gpuCompiled: true, gpuKernels: false});
    expect(on.output).toEqual(off.output);  // the same CPU kernel ran: the CPU-only TensorFlow has no GPU device
  });
});

describe('natten_tf without TensorFlow in the process', () => {
  it('fails to load, and the loader says TensorFlow must be loaded first (by tfjs-node)', () => {
    // A fresh process: this jest worker has TensorFlow loaded already.
    const direct = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(addonPath)})`], {encoding: 'utf8'});
    expect(direct.status).not.toBe(0);
    expect(direct.stderr).toMatch(/libtensorflow_framework\.so\.2: cannot open shared object file/);
    const script = "const {loadTfOps, tfOpsStatus} = require('./src/kernels/tensorflow/tf_ops');" +
        "const fake = {binding: {TF_ATTR_INT: 1, TF_ATTR_FLOAT: 2, TF_ATTR_BOOL: 3}, executeMultipleOutputs() {}};" +
        'console.log(JSON.stringify([loadTfOps(fake), tfOpsStatus().reason]))';
    const [addon, reason] = JSON.parse(execFileSync(process.execPath, ['--require', 'tsx/cjs', '-e', script],
                                                    {cwd: root, encoding: 'utf8'}));
    expect(addon).toBeNull();
    expect(reason).toMatch(/^natten_tf needs TensorFlow \(libtensorflow_framework\.so\.2\) already loaded in this process by @tensorflow\/tfjs-node or tfjs-node-gpu, and none was: .*natten_tf\.node failed to load: .*libtensorflow_framework\.so\.2/);
  });

  it('is not loaded for a backend named tensorflow that is not tfjs-node\'s', () => {
    const script = "const {loadTfOps, tfOpsStatus} = require('./src/kernels/tensorflow/tf_ops');" +
        'console.log(JSON.stringify([loadTfOps({}), tfOpsStatus().reason]))';
    const [addon, reason] = JSON.parse(execFileSync(process.execPath, ['--require', 'tsx/cjs', '-e', script],
                                                    {cwd: root, encoding: 'utf8'}));
    expect(addon).toBeNull();
    expect(reason).toMatch(/^the tensorflow backend is not tfjs-node's/);
  });
});
