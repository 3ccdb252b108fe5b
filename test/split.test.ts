/** The split ops against the fused ones, their masking, and gradients flowing through them. */
import * as tf from '@tensorflow/tfjs';
import {na2dQK} from '../src/index';
import {describeAllBackends, read} from './harness';
import {problem, randomProblem} from './problems';
import {RefProblem} from './reference';
import {AV, describeProblem, expectClose, expectNoLeak, FUSED, makeInputs, QK} from './util';

const CASES: RefProblem[] = [
  problem({spatial: [11], kernelSize: [4], stride: [3], isCausal: [true], nExtra: 2, hasRpb: true}),
  problem({spatial: [7, 6], kernelSize: [3, 6], dilation: [2, 1], isCausal: [false, true], heads: 4, headsKv: 2,
           hasRpb: true}),
  problem({spatial: [4, 5, 3], kernelSize: [2, 3, 3], isCausal: [true, true, true], nExtra: 1}),
  ...[3, 11, 23].map(seed => randomProblem(seed)),
];

describeAllBackends('split ops', () => {
  for (const p of CASES) {
    it(`naXdAV(softmax(naXdQK(q, k)), v) equals naXd(q, k, v), values and gradients: ${describeProblem(p)}`, async () => {
      const x = makeInputs(p, 7);
      const xs = [x.q, x.k, x.v, ...(x.addK ? [x.addK, x.addV!] : [])];
      const opts = (t: tf.Tensor[]) => ({...x.options, additionalKeys: t[3], additionalValues: t[4]});
      const split = (t: tf.Tensor[]) =>
          AV[p.naDim - 1](tf.softmax(QK[p.naDim - 1](t[0], t[1], opts(t))), t[2], opts(t));
      const fused = (t: tf.Tensor[]) => FUSED[p.naDim - 1](t[0], t[1], t[2], opts(t));
      const a = tf.tidy(() => split(xs)), b = fused(xs);
      expectClose((await read(a)), (await read(b)), 1e-5, 'output');
      const ga = expectNoLeak(() => tf.grads((...t: tf.Tensor[]) => tf.sum(tf.sin(split(t))))(xs));
      const gb = tf.grads((...t: tf.Tensor[]) => tf.sum(tf.sin(fused(t))))(xs);
      for (const [i, g] of ga.entries()) {
        expectClose(await read(g), await read(gb[i]), 1e-4, `gradient ${i}`);
      }
      tf.dispose([a, b, ...ga, ...gb]);
      x.dispose();
    });
  }

  it('marks exactly the causal slots past the query with -Infinity, in row-major slot order', async () => {
    // L=4, k=3, causal: query 0 sees slot 0 only, query 1 slots 0-1, queries 2-3 all three.
    const q = tf.ones([1, 4, 4, 1, 2]);
    const logits = na2dQK(q, q, {kernelSize: 3, isCausal: [true, false], scale: 1});
    const v = await logits.array() as number[][][][][];
    const finite = (y: number, x: number) => v[0][y][x][0].map(Number.isFinite);
    // Axis 0 causal, axis 1 not: slots (a, b) row-major, a over axis 0.
    expect(finite(0, 0)).toEqual([true, true, true, false, false, false, false, false, false]);
    expect(finite(1, 2)).toEqual([true, true, true, true, true, true, false, false, false]);
    expect(finite(3, 3)).toEqual(Array(9).fill(true));
    expect(v[0][3][3][0][0]).toBeCloseTo(2);  // scale 1, dot of ones over dim 2
    tf.dispose([q, logits]);
  });
});
