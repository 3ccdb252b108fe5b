/**
 * Finite-difference gradient checks on tiny shapes, for every input (query, key, value, rpb, extra
 * tokens) of the fused and split ops: the ops' float32 gradients against central differences of the
 * float64 reference.
 */
import * as tf from '@tensorflow/tfjs';
import {describeAllBackends, read} from './harness';
import {problem} from './problems';
import {refAV, refForward, RefInputs, RefProblem} from './reference';
import {AV, expectClose, FUSED, makeInputs, QK, randArray, rng, shapes} from './util';

type Key = keyof RefInputs;
const KEYS: Key[] = ['q', 'k', 'v', 'rpb', 'addK', 'addV'];

/** Central differences of `f` (a float64 function of the inputs) w.r.t. every present input. */
function numericGrads(values: RefInputs, f: (x: RefInputs) => number, keys = KEYS, eps = 1e-5):
    Partial<Record<Key, Float64Array>> {
  const out: Partial<Record<Key, Float64Array>> = {};
  for (const key of keys) {
    const base = values[key];
    if (base == null) {
      continue;
    }
    const g = new Float64Array(base.length);
    for (let i = 0; i < base.length; i++) {
      const plus = Float64Array.from(base), minus = Float64Array.from(base);
      plus[i] += eps;
      minus[i] -= eps;
      g[i] = (f({...values, [key]: plus}) - f({...values, [key]: minus})) / (2 * eps);
    }
    out[key] = g;
  }
  return out;
}

/** Numeric gradients depend only on the case, not the backend: compute each once. */
const memo = new Map<string, Partial<Record<Key, Float64Array>>>();
function once(id: string, f: () => Partial<Record<Key, Float64Array>>) {
  if (!memo.has(id)) {
    memo.set(id, f());
  }
  return memo.get(id)!;
}

function dotWith(a: ArrayLike<number>, w: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    s += Number.isFinite(a[i]) ? a[i] * w[i] : 0;
  }
  return s;
}

const CASES: Array<[string, RefProblem]> = [
  ['1d odd kernel, dilation 2, rpb, extra tokens',
   problem({spatial: [7], kernelSize: [3], dilation: [2], hasRpb: true, nExtra: 2, headDim: 3})],
  ['1d even kernel, stride 2, causal, GQA, rpb',
   problem({spatial: [6], kernelSize: [4], stride: [2], isCausal: [true], heads: 2, headsKv: 1, hasRpb: true})],
  ['2d kernel 2x3, causal on axis 0, rpb, extra token, headDimV 2',
   problem({spatial: [4, 5], kernelSize: [2, 3], isCausal: [true, false], hasRpb: true, nExtra: 1, headDim: 2,
            headDimV: 2, heads: 1, headsKv: 1})],
  ['3d kernel 2x2x3, stride, dilation, rpb',
   problem({spatial: [3, 4, 3], kernelSize: [2, 2, 3], stride: [1, 2, 1], dilation: [1, 2, 1], hasRpb: true,
            heads: 1, headsKv: 1, headDim: 2})],
];

describeAllBackends('finite-difference gradients', () => {
  for (const [name, p] of CASES) {
    const x = () => makeInputs(p, 99);

    it(`fused: ${name}`, async () => {
      const t = x();
      const ref = refForward(p, t.values);
      const r = rng(5);
      const wOut = randArray(r, ref.out.length), wLse = randArray(r, ref.lse.length);
      const numeric = once(`fused ${name}`, () => numericGrads(t.values, v => {
        const f = refForward(p, v);
        return dotWith(f.out, wOut) + dotWith(f.lse, wLse);
      }));
      const present = KEYS.filter(k => t.values[k] != null);
      const tensors = {q: t.q, k: t.k, v: t.v, rpb: t.rpb, addK: t.addK, addV: t.addV};
      const s = shapes(p);
      const wOutT = tf.tensor(wOut, s.out), wLseT = tf.tensor(wLse, s.lse);
      const grads = tf.grads((...xs: tf.Tensor[]) => {
        const m: Partial<Record<Key, tf.Tensor>> = {};
        present.forEach((k, i) => m[k] = xs[i]);
        const [o, l] = FUSED[p.naDim - 1](m.q!, m.k!, m.v!, {
          ...t.options, rpb: m.rpb, additionalKeys: m.addK, additionalValues: m.addV, returnLse: true,
        });
        return tf.add(tf.sum(tf.mul(o, wOutT)), tf.sum(tf.mul(l, wLseT)));
      })(present.map(k => tensors[k]!));
      for (const [i, k] of present.entries()) {
        expectClose(await read(grads[i]), numeric[k]!, 1e-3, `d${k}`);
      }
      tf.dispose([...grads, wOutT, wLseT]);
      t.dispose();
    });

    it(`split QK and AV: ${name}`, async () => {
      const t = x();
      const s = shapes(p);
      const r = rng(6);
      const ref = refForward(p, t.values);
      const wLogits = randArray(r, ref.logits.length);
      const weights = randArray(r, ref.logits.length);
      const wAV = randArray(r, ref.out.length);
      const numQK = once(`qk ${name}`, () => numericGrads(t.values, v => dotWith(refForward(p, v).logits, wLogits),
                                                          ['q', 'k', 'rpb', 'addK']));
      const numAV = once(`av ${name}`, () => numericGrads({q: weights, k: [], v: t.values.v, addV: t.values.addV},
                                                          v => dotWith(refAV(p, v.q, v.v, v.addV), wAV)));
      const wLogitsT = tf.tensor(wLogits, s.weights), weightsT = tf.tensor(weights, s.weights);
      const wAVT = tf.tensor(wAV, s.out);

      const qkKeys: Key[] = ['q', 'k', ...(t.rpb ? ['rpb' as Key] : []), ...(t.addK ? ['addK' as Key] : [])];
      const qkTensors = {q: t.q, k: t.k, rpb: t.rpb, addK: t.addK} as Record<string, tf.Tensor>;
      const gQK = tf.grads((...xs: tf.Tensor[]) => {
        const m: Record<string, tf.Tensor> = {};
        qkKeys.forEach((k, i) => m[k] = xs[i]);
        const logits = QK[p.naDim - 1](m.q, m.k, {...t.options, rpb: m.rpb, additionalKeys: m.addK});
        // Masked slots hold -Infinity: weight them by zero without multiplying the infinity.
        // Flat: tfjs's webgpu `where` supports rank <= 4.
        const flat = tf.reshape(logits, [-1]);
        return tf.sum(tf.mul(tf.where(tf.isFinite(flat), flat, tf.zerosLike(flat)), tf.reshape(wLogitsT, [-1])));
      })(qkKeys.map(k => qkTensors[k]));
      for (const [i, k] of qkKeys.entries()) {
        expectClose(await read(gQK[i]), numQK[k]!, 1e-3, `QK d${k}`);
      }

      const avTensors = [weightsT, t.v, ...(t.addV ? [t.addV] : [])];
      const gAV = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(
          AV[p.naDim - 1](xs[0], xs[1], {...t.options, additionalValues: xs[2]}), wAVT)))(avTensors);
      // Masked slots of the weights get no gradient; the reference's numeric gradient is 0 there too.
      expectClose((await read(gAV[0])), numAV.q!, 1e-3, 'AV dweights');
      expectClose((await read(gAV[1])), numAV.v!, 1e-3, 'AV dvalue');
      if (t.addV) {
        expectClose((await read(gAV[2])), numAV.addV!, 1e-3, 'AV dadditionalValues');
      }
      tf.dispose([...gQK, ...gAV, wLogitsT, weightsT, wAVT]);
      t.dispose();
    });
  }
});
