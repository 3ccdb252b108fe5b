/**
 * Seeded random sweep: 240 valid configurations (1/2/3-D, kernel 2..L, stride, dilation with lengths not
 * divisible by it, causal per axis, GQA, extra tokens, rpb, headDimV != headDim), each compared with the
 * float64 reference: fused output, logsumexp and every gradient, and the split ops.
 */
import * as tf from '@tensorflow/tfjs';
import {describeAllBackends, read} from './harness';
import {randomProblem} from './problems';
import {refAV, refBackward, refForward, RefProblem} from './reference';
import {AV, describeProblem, expectClose, expectNoLeak, FUSED, makeInputs, QK, randArray, rng, shapes} from './util';

const NUM_CASES = 240;

async function checkCase(p: RefProblem, seed: number): Promise<void> {
  const x = makeInputs(p, seed);
  const s = shapes(p);
  const ref = refForward(p, x.values);
  const r = rng(seed + 1);
  const dOut = randArray(r, ref.out.length), dLse = randArray(r, ref.lse.length);
  const refGrad = refBackward(p, x.values, dOut, dLse);
  const fused = FUSED[p.naDim - 1];

  // Forward, and the gradient of sum(out*dOut) + sum(lse*dLse) w.r.t. every input.
  const inputs = [x.q, x.k, x.v, x.rpb, x.addK, x.addV];
  const present = inputs.map(t => t != null);
  const tensors = inputs.filter(t => t != null) as tf.Tensor[];
  const run = (xs: tf.Tensor[]) => {
    const all = present.map(() => undefined as tf.Tensor | undefined);
    let i = 0;
    present.forEach((has, j) => all[j] = has ? xs[i++] : undefined);
    return fused(all[0]!, all[1]!, all[2]!, {
      ...x.options, rpb: all[3], additionalKeys: all[4], additionalValues: all[5], returnLse: true,
    });
  };
  const [out, lse] = expectNoLeak(() => run(tensors));
  expectClose((await read(out)), ref.out, 1e-4, 'output');
  expectClose((await read(lse)), ref.lse, 1e-4, 'logsumexp');
  const dOutT = tf.tensor(dOut, s.out), dLseT = tf.tensor(dLse, s.lse);
  const grads = expectNoLeak(() => tf.grads((...xs: tf.Tensor[]) => {
    const [o, l] = run(xs);
    return tf.add(tf.sum(tf.mul(o, dOutT)), tf.sum(tf.mul(l, dLseT)));
  })(tensors));
  const expected = [refGrad.dq, refGrad.dk, refGrad.dv, refGrad.drpb, refGrad.daddK, refGrad.daddV];
  const names = ['dq', 'dk', 'dv', 'drpb', 'dAdditionalKeys', 'dAdditionalValues'];
  let g = 0;
  for (let j = 0; j < present.length; j++) {
    if (present[j]) {
      expectClose(await read(grads[g++]), expected[j], 1e-3, names[j]);
    }
  }

  // Split ops: QK gives the reference logits (-Infinity in masked slots); AV of arbitrary weights.
  const logits = expectNoLeak(() => QK[p.naDim - 1](x.q, x.k, x.options));
  expectClose((await read(logits)), ref.logits, 1e-4, 'QK logits');
  const w = randArray(r, ref.logits.length);
  const wT = tf.tensor(w, s.weights);
  const av = expectNoLeak(() => AV[p.naDim - 1](wT, x.v, x.options));
  expectClose((await read(av)), refAV(p, w, x.values.v, x.values.addV), 1e-4, 'AV output');

  tf.dispose([out, lse, dOutT, dLseT, ...grads, logits, wT, av]);
  x.dispose();
}

/**
 * On webgpu (a software adapter in CI: 2 to 5 s a case on a busy 2-core machine, most of it compiling
 * pipelines) every fourth seed runs: a quarter of the cases, the same every time, all three ranks (a case's
 * rank is seed % 3 + 1); 'covers the awkward corners' checks that subset itself.
 */
const WEBGPU_STEP = 4;

describeAllBackends('random sweep', b => {
  const all = Array.from({length: NUM_CASES}, (_, seed) => ({seed, p: randomProblem(seed, (seed % 3) + 1)}));
  const cases = b.backend === 'webgpu' ? all.filter(c => c.seed % WEBGPU_STEP === 0) : all;

  it('covers the awkward corners', () => {
    const any = (f: (p: RefProblem) => boolean) => cases.some(c => f(c.p));
    const axes = (f: (p: RefProblem, a: number) => boolean) => any(p => p.spatial.some((_, a) => f(p, a)));
    expect(axes((p, a) => p.spatial[a] % p.dilation[a] !== 0)).toBe(true);
    expect(axes((p, a) => p.kernelSize[a] % 2 === 0)).toBe(true);
    expect(axes((p, a) => p.kernelSize[a] * p.dilation[a] === p.spatial[a])).toBe(true);
    expect(axes((p, a) => p.stride[a] > 1 && p.isCausal[a])).toBe(true);
    expect(any(p => p.naDim === 3 && p.isCausal.some(c => c) && p.isCausal.some(c => !c))).toBe(true);
    expect(any(p => p.heads !== p.headsKv && p.nExtra > 0 && p.hasRpb)).toBe(true);
  });

  for (const {seed, p} of cases) {
    it(`seed ${seed}: ${describeProblem(p)}`, () => checkCase(p, seed));
  }
});
