/**
 * The attention weights the native blocked forward keeps for the blocked backward under a tape
 * (NATTEN_CPU_KEEP_WEIGHTS; native/src/cpu/na_cpu.h, kept_weights_length): the backward that reads them matches the
 * float64 reference on every ISA and tile shape, whatever tile shape the forward used; the weights are kept only
 * where they may be (and not for a value with Inf or NaN), taken by the one backward of the same inputs; through
 * tfjs, gradients with and without them agree and no tensor is left behind.
 */
import * as tf from '@tensorflow/tfjs';
import {NATTEN_CPU_KEEP_WEIGHTS, na2d} from '../src/index';
import {geometry, hasKeptWeights, naBackwardNative, naForwardNative, nattenCpu} from '../src/kernels/cpu/na_native';
import {problem} from './problems';
import {refBackward, refForward, RefProblem} from './reference';
import {gradInputs, qkvInfoOf} from './kernel_inputs';
import {expectClose} from './util';

const addon = nattenCpu();
type Isa = 'avx512zmm' | 'avx512' | 'avx2' | 'portable';
const ISAS: Isa[] = addon == null ? [] :
    [...(addon.cpuHasAvx512() ? ['avx512zmm' as const, 'avx512' as const] : []),
     ...(addon.cpuHasAvx2() ? ['avx2' as const] : []), 'portable'];

const infoOf = qkvInfoOf;

const inputs = gradInputs;
type X = ReturnType<typeof inputs>;

/** Forward keeping the weights with `lines`-line tiles, then the backward with `backLines`-line tiles. */
function runKept(p: RefProblem, x: X, isa: Isa, lines: 1 | 2, backLines: 1 | 2 = lines) {
  expect(addon!.setIsa(isa)).toBe(true);
  try {
    const info = infoOf(p);
    addon!.setTileLines(lines);
    const f = naForwardNative(info, x.q, x.k, x.v, x.rpb ?? null, null, null, true)!;
    const kept = hasKeptWeights(f.lse);
    addon!.setTileLines(backLines);
    const b = naBackwardNative(info, x.q, x.k, x.v, f.output, f.lse, x.dOut, x.dLse, x.rpb ?? null, null, null)!;
    return {f, b, kept, taken: !hasKeptWeights(f.lse)};
  } finally {
    addon!.setIsa('auto');
    addon!.setTileLines(2);
  }
}

function expectMatchesReference(p: RefProblem, x: X, r: ReturnType<typeof runKept>) {
  const ref = refForward(p, x), g = refBackward(p, x, x.dOut, x.dLse);
  expectClose(r.f.output, ref.out, 2e-5, 'output');
  expectClose(r.f.lse, ref.lse, 2e-5, 'lse');
  expectClose(r.b.dQuery, g.dq, 2e-5, 'dq');
  expectClose(r.b.dKey, g.dk, 2e-5, 'dk');
  expectClose(r.b.dValue, g.dv, 2e-5, 'dv');
  if (p.hasRpb) {
    expectClose(r.b.dRpb!, g.drpb!, 2e-5, 'drpb');
  }
}

// Problems the blocked forward and backward both take, with weights of at most four times the output's floats.
const CASES: Array<[string, RefProblem]> = [
  ['2-D 9x11, kernel 3x7, rpb, dim 32', problem({spatial: [9, 11], kernelSize: [3, 7], hasRpb: true, headDim: 32})],
  ['2-D 13x12, kernel 3x5, dilation 3x1, causal axis 0, GQA 4:2, rpb, dim 32, batch 2',
   problem({spatial: [13, 12], kernelSize: [3, 5], dilation: [3, 1], isCausal: [true, false], heads: 4, headsKv: 2,
            hasRpb: true, headDim: 32, batch: 2})],
  ['2-D 10x13, kernel 4x6 (even), causal both, stride 2x3, MQA 3:1, dim 16',
   problem({spatial: [10, 13], kernelSize: [4, 6], isCausal: [true, true], stride: [2, 3], heads: 3, headsKv: 1,
            headDim: 16})],
  ['2-D 7x9, kernel 7x9 (= lengths, two key vectors), dim 64',
   problem({spatial: [7, 9], kernelSize: [7, 9], headDim: 64})],
  ['1-D 37, kernel 12 (two key vectors), stride 4, rpb, dim 16',
   problem({spatial: [37], kernelSize: [12], stride: [4], hasRpb: true, headDim: 16})],
  ['3-D 4x7x10, kernel 2x3x5, causal 1x0x1, rpb, dim 32',
   problem({spatial: [4, 7, 10], kernelSize: [2, 3, 5], isCausal: [true, false, true], hasRpb: true, headDim: 32})],
];

const describeNative = addon == null ? describe.skip : describe;

describeNative('native blocked backward from the forward\'s kept weights', () => {
  for (const [title, p] of CASES) {
    const x = inputs(p, title.length + 3);
    for (const isa of ISAS) {
      for (const lines of [2, 1] as const) {
        it(`${isa}, ${lines}-line tiles: ${title}`, () => {
          expect(addon!.keptWeightsLength(geometry(infoOf(p)))).toBeGreaterThan(0);
          if (!addon!.setIsa(isa) || !addon!.blockedForward(geometry(infoOf(p)))) {
            addon!.setIsa('auto');
            return;  // this ISA's rows do not hold the head dim: the per-row forward runs and keeps nothing
          }
          addon!.setIsa('auto');
          const r = runKept(p, x, isa, lines);
          expect(r.kept).toBe(true);
          expect(r.taken).toBe(true);
          expectMatchesReference(p, x, r);
        });
      }
    }
  }

  it('a backward whose tiles differ from the forward\'s (tile lines changed between) computes the weights again', () => {
    const [, p] = CASES[1];
    const x = inputs(p, 5);
    for (const [lines, back] of [[2, 1], [1, 2]] as const) {
      const r = runKept(p, x, ISAS[0], lines, back);
      expect(r.kept).toBe(true);
      expectMatchesReference(p, x, r);
    }
  });

  it('kept only where allowed: not past four times the output, not with extra tokens or last-axis dilation', () => {
    const len = (p: RefProblem) => addon!.keptWeightsLength(geometry(infoOf(p)));
    // 2-D kernel 7x7, dim 32: 7 rows of 8 lanes per query row, 56 floats against 32 output floats.
    const p = problem({spatial: [14, 14], kernelSize: [7, 7], heads: 4, headDim: 32});
    expect(len(p)).toBe(16 + 14 * 14 * 4 * 56);
    expect(len(problem({spatial: [14, 14], kernelSize: [7, 7], headDim: 8}))).toBe(0);  // 56 > 4 x 8
    expect(len(problem({spatial: [8, 9, 9], kernelSize: [3, 7, 7], headDim: 32}))).toBe(0);  // 168 > 128
    expect(len(problem({spatial: [14, 14], kernelSize: [7, 7], dilation: [1, 2], headDim: 32}))).toBe(0);
    expect(len(problem({spatial: [14, 14], kernelSize: [7, 7], headDim: 32, nExtra: 2}))).toBe(0);
    addon!.setBlockedBackward(false);
    try {
      expect(len(p)).toBe(0);
    } finally {
      addon!.setBlockedBackward(true);
    }
  });

  it('a value with Inf or NaN: the per-row forward runs and keeps nothing; the backward is still right', () => {
    const [, p] = CASES[0];
    const x = inputs(p, 9);
    const v = Float32Array.from(x.v);
    v[5] = Infinity;
    const info = infoOf(p);
    const f = naForwardNative(info, x.q, x.k, v, x.rpb ?? null, null, null, true)!;
    expect(hasKeptWeights(f.lse)).toBe(false);
  });

  it('a backward of other inputs does not take them', () => {
    const [, p] = CASES[0];
    const x = inputs(p, 11);
    const info = infoOf(p);
    const f = naForwardNative(info, x.q, x.k, x.v, x.rpb ?? null, null, null, true)!;
    expect(hasKeptWeights(f.lse)).toBe(true);
    const q2 = Float32Array.from(x.q), rpb2 = Float32Array.from(x.rpb!);
    naBackwardNative(info, q2, x.k, x.v, f.output, f.lse, x.dOut, x.dLse, x.rpb ?? null, null, null);
    naBackwardNative(info, x.q, x.k, x.v, f.output, f.lse, x.dOut, x.dLse, rpb2, null, null);
    expect(hasKeptWeights(f.lse)).toBe(true);
    naBackwardNative(info, x.q, x.k, x.v, f.output, f.lse, x.dOut, x.dLse, x.rpb ?? null, null, null);
    expect(hasKeptWeights(f.lse)).toBe(false);
  });
});

describeNative('tf.grads on cpu with and without kept weights', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });
  afterEach(() => tf.env().set(NATTEN_CPU_KEEP_WEIGHTS, true));

  it('the same gradients (rpb, GQA, causal), and no tensor left behind', () => {
    const q = tf.randomNormal([2, 12, 13, 4, 32], 0, 1, 'float32', 1);
    const k = tf.randomNormal([2, 12, 13, 2, 32], 0, 1, 'float32', 2);
    const v = tf.randomNormal([2, 12, 13, 2, 32], 0, 1, 'float32', 3);
    const rpb = tf.randomNormal([4, 9, 13], 0, 1, 'float32', 4);
    const dy = tf.randomNormal([2, 12, 13, 4, 32], 0, 1, 'float32', 5);
    const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, r: tf.Tensor) =>
        na2d(a, b, c, {kernelSize: [5, 7], isCausal: [true, false], rpb: r});
    const grads = (keep: boolean) => {
      tf.env().set(NATTEN_CPU_KEEP_WEIGHTS, keep);
      const before = tf.memory().numTensors;
      const gs = tf.grads(f)([q, k, v, rpb], dy);
      expect(tf.memory().numTensors).toBe(before + 4);
      const out = gs.map(g => g.dataSync().slice());
      tf.dispose(gs);
      return out;
    };
    const kept = grads(true), again = grads(false);
    ['dq', 'dk', 'dv', 'drpb'].forEach((name, i) => expectClose(kept[i], again[i], 2e-5, name));
    tf.dispose([q, k, v, rpb, dy]);
  });
});
