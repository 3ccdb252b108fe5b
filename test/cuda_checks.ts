/**
 * Checks of the CUDA path shared by the GPU suite (cuda.test.ts, real device) and the emulator suite
 * (cuda_emulated.test.ts, no GPU): the addon's self-check (fast kernels against the reference kernels on
 * random inputs, outputs poisoned with NaN), the error path, the routing of the host backends, workspace
 * reuse and the precision option. Only describe/it/expect: the GPU machine runs these without jest.
 */
import * as tf from '@tensorflow/tfjs';
import {cudaStatus, disableCuda, enableCuda, na1d, na2d, na2dAV, na2dQK} from '../src/index';
import {cudaAddon} from '../src/kernels/cuda/addon';
import {CheckSpec, cudaProblemOf, describeSpec} from './cuda_cases';
import {problem} from './problems';
import {refForward} from './reference';
import {requireTensorflowBackend} from './tensorflow_backend';
import {expectClose, expectNoLeak, makeInputs} from './util';

/** Self-check of every case in both precisions; each tensor of each op must pass (see native tools.h). */
export function selfCheckTests(cases: CheckSpec[], seed: number): void {
  for (const spec of cases) {
    for (const precision of ['tf32', 'float32'] as const) {
      it(`self-check ${precision}: ${describeSpec(spec)}`, () => {
        const report = cudaAddon().selfCheck(cudaProblemOf(spec), {precision, seed});
        const worst = report.results.reduce((a, b) => (b.relErr / b.tolerance > a.relErr / a.tolerance ? b : a));
        console.log(`self-check ${precision} ${describeSpec(spec)} [${report.kernels}]: worst ${worst.op} ${
            worst.tensor} ${worst.relErr.toExponential(2)} (limit ${worst.tolerance}); fast ${
            report.fastForwardMs.toFixed(2)} / ${report.fastBackwardMs.toFixed(2)} ms, reference ${
            report.referenceForwardMs.toFixed(1)} / ${report.referenceBackwardMs.toFixed(1)} ms`);
        const failed = report.results.filter(r => !r.pass).map(
            r => `${r.op} ${r.tensor}: rel ${r.relErr.toExponential(2)} (limit ${r.tolerance}), ${r.bad} of ${
                r.elems} elements unwritten or wrongly infinite`);
        expect(failed).toEqual([]);
        expect(report.results.length).toBeGreaterThanOrEqual(11);
      });
    }
  }
}

/**
 * The fused forward in every tile configuration that fits each case's head-dim bucket (TF32), against the
 * reference kernels: the configurations the benchmark's sweep may pick. The describeFused check makes sure
 * the asked-for configuration ran.
 */
export function forwardConfigTests(cases: CheckSpec[], seed: number): void {
  it('the fused forward is right in every tile configuration', () => {
    const addon = cudaAddon();
    const configs = addon.forwardConfigs();
    expect(configs.length).toBeGreaterThanOrEqual(4);
    // The wgmma configurations (lean bit 1024) run on the emulator and on sm_90 devices (the addon builds target 90
    // as sm_90a); any other device sends them to the reference kernels, saying why.
    const device = cudaStatus().device!;
    const wgmmaRuns = device.emulated || device.computeCapability === '9.0';
    const runsHere = (c: typeof configs[0]) => wgmmaRuns || (c.lean & 1024) === 0;
    const ran = new Set<number>();
    const failed: string[] = [];
    for (const spec of cases) {
      for (const c of configs) {
        const options = {precision: 'tf32' as const, forwardConfig: c.index};
        const kernels = addon.describeFused(cudaProblemOf(spec), options);
        if (!kernels.includes(`fwd config ${c.index} `)) {
          expect(kernels).toMatch(runsHere(c) ? /^reference \(forward configuration .* shared memory/ :
                                                /^reference \(forward configuration \d+ uses Hopper's wgmma/);
          continue;
        }
        ran.add(c.index);
        const report = addon.selfCheck(cudaProblemOf(spec), {...options, seed, forwardOnly: true});
        expect(report.results.map(r => r.tensor)).toEqual(['output', 'logsumexp']);
        failed.push(...report.results.filter(r => !r.pass).map(
            r => `config ${c.index} ${describeSpec(spec)} ${r.tensor}: rel ${r.relErr.toExponential(2)}, bad ${r.bad}`));
      }
    }
    expect(failed).toEqual([]);
    expect([...ran].sort((a, b) => a - b)).toEqual(configs.filter(runsHere).map(c => c.index));
  });
  it('Q\'s rows paired in shared memory (lean bit 512) change no arithmetic: the same outputs as without', () => {
    // The same outputs give the same errors against the same reference, to the last bit of the error.
    const addon = cudaAddon();
    const configs = addon.forwardConfigs();
    const same = (a: typeof configs[0], b: typeof configs[0]) => a.warps === b.warps && a.blockN === b.blockN &&
        a.minBlocks === b.minBlocks && a.tileByReach === b.tileByReach && a.qInRegisters === b.qInRegisters;
    const pairs = configs.filter(c => (c.lean & 512) !== 0)
                      .map(c => [c, configs.find(d => same(c, d) && d.lean === (c.lean & ~512))] as const)
                      .filter(([, d]) => d != null);
    expect(pairs.length).toBeGreaterThanOrEqual(3);
    const ran = new Set<number>();
    for (const spec of cases) {
      for (const [paired, plain] of pairs) {
        const options = (index: number) => ({precision: 'tf32' as const, forwardConfig: index, seed, forwardOnly: true});
        if (!addon.describeFused(cudaProblemOf(spec), options(paired.index)).includes(`fwd config ${paired.index} `)) {
          continue;  // over the configuration's shared memory: the reference kernel runs (the test above)
        }
        ran.add(paired.index);
        const run = (index: number) => addon.selfCheck(cudaProblemOf(spec), options(index)).results.map(r => r.relErr);
        expect([paired.index, run(paired.index)]).toEqual([paired.index, run(plain!.index)]);
      }
    }
    expect(ran.size).toBe(pairs.length);
  });
}

/** CUDA errors become exceptions naming the op; nothing leaks; the next call works. */
export function errorPathTests(): void {
  it('an out-of-memory failure becomes an Error naming the op, leaks nothing, and the next call works', () => {
    enableCuda({backend: 'cpu'});
    const q = tf.randomNormal([1, 6, 7, 2, 8]);
    try {
      cudaAddon().failNextAllocation();
      const before = tf.memory().numTensors;
      expect(() => na2d(q, q, q, {kernelSize: 3})).toThrow(/^na2d: CUDA fused forward: .*cudaErrorMemoryAllocation/);
      expect(tf.memory().numTensors).toBe(before);
      cudaAddon().failNextAllocation(1);  // the forward runs, its backward fails
      expect(() => tf.grad(x => tf.sum(na2d(x, q, q, {kernelSize: 3}) as tf.Tensor))(q))
          .toThrow(/^na2d backward: CUDA fused backward: .*cudaErrorMemoryAllocation/);
      cudaAddon().failNextAllocation();
      expect(() => na2dQK(q, q, {kernelSize: 3})).toThrow(/^na2dQK: CUDA split qk forward: /);
      const out = na2d(q, q, q, {kernelSize: 3}) as tf.Tensor;
      expect(out.shape).toEqual([1, 6, 7, 2, 8]);
      out.dispose();
    } finally {
      q.dispose();
      disableCuda({backend: 'cpu'});
    }
  });
}

/**
 * The tensorflow backend routes to CUDA by itself; disableCuda sends it back to the CPU kernels. The first check needs
 * the real tensorflow backend: where NATTEN_TEST_WITHOUT_TENSORFLOW=1 says there is none (the GPU machine has no
 * TensorFlow), it is reported as skipped, with that reason in its name; anywhere else a missing backend fails it.
 */
export function routingTests(): void {
  const noTensorflow = process.env.NATTEN_TEST_WITHOUT_TENSORFLOW === '1';
  const name = 'the tensorflow backend runs on CUDA when a device is present, the CPU kernels after disableCuda';
  const title = noTensorflow ? `${name} (skipped: NATTEN_TEST_WITHOUT_TENSORFLOW=1, no tensorflow backend)` : name;
  (noTensorflow ? it.skip : it)(title, async () => {
    requireTensorflowBackend();
    const addon = cudaAddon();
    const before = tf.getBackend();
    await tf.setBackend('tensorflow');
    const q = tf.randomNormal([1, 9, 2, 4]);
    try {
      enableCuda({backend: 'tensorflow'});
      addon.releaseMemory();
      tf.dispose(na1d(q, q, q, {kernelSize: 3}));
      expect(addon.reservedBytes()).toBeGreaterThan(0);  // the call went through the device
      disableCuda({backend: 'tensorflow'});
      addon.releaseMemory();
      tf.dispose(na1d(q, q, q, {kernelSize: 3}));
      expect(addon.reservedBytes()).toBe(0);
    } finally {
      q.dispose();
      disableCuda({backend: 'tensorflow'});
      await tf.setBackend(before);
    }
  });

  it('device memory is kept and reused between calls of the same size, and released on request', () => {
    const addon = cudaAddon();
    enableCuda({backend: 'cpu'});
    const q = tf.randomNormal([2, 8, 8, 2, 16]);
    try {
      tf.dispose(na2d(q, q, q, {kernelSize: 5}));
      const kept = addon.reservedBytes();
      expect(kept).toBeGreaterThan(0);
      for (let i = 0; i < 3; i++) {
        tf.dispose(na2d(q, q, q, {kernelSize: 5}));
      }
      expect(addon.reservedBytes()).toBe(kept);
      addon.releaseMemory();
      expect(addon.reservedBytes()).toBe(0);
    } finally {
      q.dispose();
      disableCuda({backend: 'cpu'});
    }
  });
}

/** allowTf32: false (and NATTEN_CUDA_ALLOW_TF32=0) give float32 accuracy; TF32 stays within its own bound. */
export function precisionTests(): void {
  it('allowTf32 false and NATTEN_CUDA_ALLOW_TF32=0 run the fused kernels in float32; TF32 is the default', () => {
    const p = problem({spatial: [7, 9], kernelSize: [3, 5], heads: 2, headDim: 32, hasRpb: true, nExtra: 2});
    const x = makeInputs(p, 5);
    enableCuda({backend: 'cpu'});
    try {
      const ref = refForward(p, x.values);
      const run = (opts: object) => expectNoLeak(() => na2d(x.q, x.k, x.v, {...x.options, ...opts}) as tf.Tensor);
      const maxDiff = (t: tf.Tensor) => {
        const a = t.dataSync();
        let m = 0;
        a.forEach((v, i) => m = Math.max(m, Math.abs(v - ref.out[i])));
        t.dispose();
        return m;
      };
      expect(maxDiff(run({allowTf32: false}))).toBeLessThan(2e-6);
      const saved = process.env.NATTEN_CUDA_ALLOW_TF32;
      process.env.NATTEN_CUDA_ALLOW_TF32 = '0';
      expect(maxDiff(run({}))).toBeLessThan(2e-6);
      process.env.NATTEN_CUDA_ALLOW_TF32 = '1';
      const tf32 = maxDiff(run({}));
      if (saved === undefined) {
        delete process.env.NATTEN_CUDA_ALLOW_TF32;
      } else {
        process.env.NATTEN_CUDA_ALLOW_TF32 = saved;
      }
      expect(tf32).toBeGreaterThan(2e-6);  // TF32 did run: its rounding shows
      expectClose([tf32], [0], 5e-3, 'TF32 max error');
    } finally {
      disableCuda({backend: 'cpu'});
      x.dispose();
    }
  });

  it('Inf and NaN in queries, keys, values and output gradients come out of the fused forward and backward where ' +
     'the CPU kernels put them', () => {
    // 2-D (the wgmma forward on Hopper and on the emulator, whose TF32 rounding tests each 16-byte piece once) and
    // 1-D (the mma.sync forward), in TF32 and in float32: the same non-finite outputs, logsumexps and gradients, the
    // finite ones close. The chunked products take every key (or query) of a chunk for every row, masked ones with
    // weight 0, so an Inf or NaN outside a row's window enters it as 0 x Inf = NaN, and float32's split operands
    // turn an infinite key into NaN scores (lo = Inf - Inf): the kernels redo such rows exactly (redo_forward_row,
    // redo_grad_row in native/src/cuda). Infinite keys are checked in the forward only: where a key's score is
    // -Inf its weight is 0, and the gradients' 0 x Inf come out NaN or infinite by the order of each kernel's
    // products (the CPU kernels and the spec's sums differ there too).
    for (const [spatial, allowTf32, infiniteKeys] of [
             [[9, 11], true, true], [[40], true, true], [[9, 11], false, true], [[40], false, true],
             [[9, 11], true, false], [[40], true, false], [[9, 11], false, false], [[40], false, false]] as
         Array<[number[], boolean, boolean]>) {
      // With rpb and extra tokens: their gradients too (the extra tokens, in every window, never masked). Two batches,
      // the non-finite inputs all in the first: every output and gradient has finite and non-finite entries.
      const p = problem({spatial, kernelSize: spatial.map(() => 5), heads: 2, headDim: 16, hasRpb: true, nExtra: 2,
                         batch: 2});
      const x = makeInputs(p, 7);
      const values = {q: Float32Array.from(x.values.q), k: Float32Array.from(x.values.k),
                      v: Float32Array.from(x.values.v)};
      const at = (token: number, head: number, dim: number) => (token * 2 + head) * 16 + dim;
      if (infiniteKeys) {
        values.k[at(20, 0, 3)] = Infinity;  // +Inf or -Inf scores for that key: NaN rows or weight 0
        values.k[at(31, 1, 5)] = -Infinity;
        values.q[at(7, 1, 2)] = -Infinity;  // infinite scores of that row's keys
      }
      // NaNs with every payload bit set (CUDA's own NaN, 0x7fffffff, and its negative): half a TF32 unit added to
      // their bits would wrap them round to zeros.
      const bits = (a: Float32Array, i: number, u: number) => new Uint32Array(a.buffer, a.byteOffset)[i] = u;
      bits(values.q, at(3, 0, 0), 0x7fffffff);  // one NaN row
      bits(values.k, at(33, 1, 9), 0xffffffff);  // NaN rows where that key is in the window
      values.v[at(12, 0, 4)] = Infinity;  // Inf (or NaN) in one output column of the rows that see these keys
      values.v[at(26, 1, 0)] = -Infinity;
      bits(values.v, at(37, 0, 15), 0x7fffffff);
      const dOut = new Float32Array(values.v.length).map((_, i) => Math.sin(0.37 * i));
      dOut[at(16, 1, 2)] = NaN;  // a NaN output gradient: NaN dq of that row, dk and dv of the keys it sees
      dOut[at(24, 0, 5)] = -Infinity;
      const dLse = new Float32Array(values.v.length / 16).map((_, i) => Math.cos(0.61 * i));
      const shape = x.q.shape;
      const [q, k, v, dOutT] = [values.q, values.k, values.v, dOut].map(a => tf.tensor(a, shape));
      const dLseT = tf.tensor(dLse, shape.slice(0, -1));
      const run = () => tf.tidy(() => {
        const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, rpb: tf.Tensor, addK: tf.Tensor, addV: tf.Tensor) => {
          const options = {kernelSize: 5, allowTf32, returnLse: true as const, rpb, additionalKeys: addK, additionalValues: addV};
          return (spatial.length === 2 ? na2d(a, b, c, options) : na1d(a, b, c, options)) as tf.Tensor[];
        };
        const inputs = [q, k, v, x.rpb!, x.addK!, x.addV!];
        const [out, lse] = f(q, k, v, x.rpb!, x.addK!, x.addV!);
        if (infiniteKeys) {
          return [out, lse].map(t => t.dataSync().slice());
        }
        const grads = tf.grads((...xs: tf.Tensor[]) => {
          const [o, l] = f(xs[0], xs[1], xs[2], xs[3], xs[4], xs[5]);
          return tf.add(tf.sum(tf.mul(o, dOutT)), tf.sum(tf.mul(l, dLseT)));
        })(inputs);
        return [out, lse, ...grads].map(t => t.dataSync().slice());
      });
      const names = ['output', 'logsumexp', 'dq', 'dk', 'dv', 'drpb', 'dAdditionalKeys', 'dAdditionalValues'];
      try {
        const expected = run();  // the CPU kernels
        for (const e of expected) {
          expect(e.some(y => !Number.isFinite(y))).toBe(true);
          expect(e.some(y => Number.isFinite(y))).toBe(true);
        }
        enableCuda({backend: 'cpu'});
        try {
          const actual = run();  // CUDA
          names.slice(0, actual.length).forEach((name, t) => {
            const wrong: string[] = [];
            let worst = 0, largest = 0;
            expected[t].forEach((e, i) => {
              const a = actual[t][i];
              if (!Number.isFinite(e) || !Number.isFinite(a)) {
                if (!Object.is(e, a) && !(Number.isNaN(e) && Number.isNaN(a))) {
                  wrong.push(`${i}: ${a} (cpu ${e})`);
                }
              } else {
                worst = Math.max(worst, Math.abs(a - e));
                largest = Math.max(largest, Math.abs(e));
              }
            });
            expect({spatial, allowTf32, infiniteKeys, name, wrong: wrong.slice(0, 5), count: wrong.length})
                .toEqual({spatial, allowTf32, infiniteKeys, name, wrong: [], count: 0});
            expect(worst / Math.max(1, largest)).toBeLessThan(allowTf32 ? 1e-2 : 1e-4);
          });
        } finally {
          disableCuda({backend: 'cpu'});
        }
      } finally {
        tf.dispose([q, k, v, dOutT, dLseT]);
        x.dispose();
      }
    }
  });

  it('AV of weights from QK matches the fused op through CUDA (split ops in float32)', () => {
    enableCuda({backend: 'cpu'});
    const q = tf.randomNormal([1, 6, 8, 2, 8]);
    try {
      const opts = {kernelSize: 3, dilation: [2, 1], allowTf32: false};
      const split = tf.tidy(() => na2dAV(tf.softmax(na2dQK(q, q, opts)), q, opts));
      const fused = na2d(q, q, q, opts) as tf.Tensor;
      expectClose(split.dataSync(), fused.dataSync(), 1e-5, 'split vs fused');
      tf.dispose([split, fused]);
    } finally {
      q.dispose();
      disableCuda({backend: 'cpu'});
    }
  });
}

/** Prints what the addon reports, once, to the test log. */
export function logDevice(): void {
  const s = cudaStatus();
  console.log(`CUDA: ${s.available ? `${s.device!.name} (sm ${s.device!.computeCapability}, ${
      (s.device!.totalMemory / 2 ** 30).toFixed(0)} GiB)` : `unavailable: ${s.reason}`}; addon ${s.addonPath} built for ${
      s.available ? cudaAddon().buildInfo.archs : '-'}`);
}
