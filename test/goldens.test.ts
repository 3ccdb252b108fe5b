/** tfjs-natten against vectors computed by NATTEN 0.21 itself (test/fixtures, copied from shared/testdata). */
import * as tf from '@tensorflow/tfjs';
import {NAOptions} from '../src/index';
import {describeAllBackends, read} from './harness';
import {expectClose, expectNoLeak, FUSED} from './util';

interface GoldenCase {
  name: string;
  dims: number;
  shape: number[];
  kvShape: number[];
  kernelSize: number[];
  stride: number[];
  dilation: number[];
  isCausal: boolean[];
  scale: number;
  q: number[];
  k: number[];
  v: number[];
  out: number[];
  lse: number[];
  dOut: number[];
  dq: number[];
  dk: number[];
  dv: number[];
  extraShape?: number[];
  additionalKeys?: number[];
  additionalValues?: number[];
  dAdditionalKeys?: number[];
  dAdditionalValues?: number[];
}

// eslint-disable-next-line @typescript-eslint/no-var-requires
const goldens: {cases: GoldenCase[]} = require('./fixtures/natten-goldens-public.json');

describeAllBackends('NATTEN goldens', () => {
  it('has all eight public cases', () => expect(goldens.cases.length).toBe(8));

  for (const c of goldens.cases) {
    it(`${c.name}: output, logsumexp and gradients match NATTEN`, async () => {
      const q = tf.tensor(c.q, c.shape), k = tf.tensor(c.k, c.kvShape), v = tf.tensor(c.v, c.kvShape);
      const inputs = [q, k, v];
      const options: NAOptions = {
        kernelSize: c.kernelSize, stride: c.stride, dilation: c.dilation, isCausal: c.isCausal, scale: c.scale,
      };
      if (c.extraShape) {
        inputs.push(tf.tensor(c.additionalKeys!, c.extraShape), tf.tensor(c.additionalValues!, c.extraShape));
      }
      const op = FUSED[c.dims - 1];
      const run = (xs: tf.Tensor[], returnLse: boolean) =>
          op(xs[0], xs[1], xs[2], {...options, additionalKeys: xs[3], additionalValues: xs[4], returnLse});

      const [out, lse] = expectNoLeak(() => run(inputs, true) as unknown as [tf.Tensor, tf.Tensor]);
      expect(out.shape).toEqual([...c.shape.slice(0, -1), c.kvShape[c.kvShape.length - 1]]);
      expectClose((await read(out)), c.out, 1e-4, 'output');
      expectClose((await read(lse)), c.lse, 1e-4, 'logsumexp');

      const dOut = tf.tensor(c.dOut, out.shape);
      const grads = expectNoLeak(
          () => tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(run(xs, false) as tf.Tensor, dOut)))(inputs));
      expectClose((await read(grads[0])), c.dq, 1e-3, 'dq');
      expectClose((await read(grads[1])), c.dk, 1e-3, 'dk');
      expectClose((await read(grads[2])), c.dv, 1e-3, 'dv');
      if (c.extraShape) {
        expectClose((await read(grads[3])), c.dAdditionalKeys!, 1e-3, 'dAdditionalKeys');
        expectClose((await read(grads[4])), c.dAdditionalValues!, 1e-3, 'dAdditionalValues');
      }
      tf.dispose([...inputs, out, lse, dOut, ...grads]);
    });
  }
});
