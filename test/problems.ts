/** Seeded generators of valid NA problems (shape, kernel, stride, dilation, causal, GQA, extras, rpb). */
import {RefProblem} from './reference';
import {randInt, rng} from './util';

const MAX_LEN = [0, 24, 9, 5];

/** A random valid problem; every draw depends only on `seed`, so a failing case reruns from its seed. */
export function randomProblem(seed: number, naDim?: number): RefProblem {
  const r = rng(seed * 7919 + 17);
  const dim = naDim ?? randInt(r, 1, 3);
  const spatial: number[] = [], kernelSize: number[] = [], stride: number[] = [], dilation: number[] = [];
  const isCausal: boolean[] = [];
  for (let a = 0; a < dim; a++) {
    const L = randInt(r, 2, MAX_LEN[dim]);
    const k = randInt(r, 2, L);
    const d = randInt(r, 1, Math.floor(L / k));
    spatial.push(L);
    kernelSize.push(k);
    dilation.push(d);
    stride.push(randInt(r, 1, k));
    isCausal.push(r() < 0.35);
  }
  const headsKv = randInt(r, 1, 2);
  const heads = headsKv * randInt(r, 1, 2);
  const headDim = randInt(r, 1, 8);
  return {
    naDim: dim,
    batch: randInt(r, 1, 2),
    spatial,
    heads,
    headsKv,
    headDim,
    headDimV: r() < 0.3 ? randInt(r, 1, 8) : headDim,
    kernelSize,
    stride,
    dilation,
    isCausal,
    scale: r() < 0.3 ? 0.2 + r() : 1 / Math.sqrt(headDim),
    nExtra: r() < 0.3 ? randInt(r, 1, 3) : 0,
    hasRpb: r() < 0.4,
  };
}

/** Fills in the defaults of a hand-written problem. */
export function problem(p: Partial<RefProblem> & Pick<RefProblem, 'spatial' | 'kernelSize'>): RefProblem {
  const naDim = p.spatial.length;
  const headDim = p.headDim ?? 4;
  return {
    naDim,
    batch: 1,
    heads: 2,
    headsKv: p.heads ?? 2,
    headDim,
    headDimV: headDim,
    stride: Array(naDim).fill(1),
    dilation: Array(naDim).fill(1),
    isCausal: Array(naDim).fill(false),
    scale: 1 / Math.sqrt(headDim),
    nExtra: 0,
    hasRpb: false,
    ...p,
  };
}

/** Every valid single-axis configuration with 2 <= L < maxL: kernel 2..L, dilation with k*d <= L, stride 1..k. */
export function forEachAxisConfig(maxL: number,
                                  body: (L: number, k: number, s: number, d: number, causal: boolean) => void): void {
  for (let L = 2; L < maxL; L++) {
    for (let k = 2; k <= L; k++) {
      for (let d = 1; k * d <= L; d++) {
        for (let s = 1; s <= k; s++) {
          for (const causal of [false, true]) {
            body(L, k, s, d, causal);
          }
        }
      }
    }
  }
}
