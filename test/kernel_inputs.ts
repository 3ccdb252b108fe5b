/**
 * Inputs of the kernel-level suites (Node only: these import the library's internals, which page code may not; see
 * test/browser): a fused problem's NAInfo and its inputs with upstream gradients.
 */
import {computeQKVInfo, NAInfo} from '../src/core/na_info';
import {RefProblem} from './reference';
import {makeValues, randArray, rng, shapes} from './util';

/** The NAInfo of a fused problem, as the kernels compute it from the tensors' shapes and the options. */
export function qkvInfoOf(p: RefProblem): NAInfo {
  const s = shapes(p);
  return computeQKVInfo(s.q, s.k, s.v, p.nExtra > 0 ? s.addK : null, p.hasRpb,
                        {kernelSize: p.kernelSize, stride: p.stride, dilation: p.dilation, isCausal: p.isCausal,
                         scale: p.scale});
}

/** A problem's inputs (makeValues), and random upstream gradients of out and lse. */
export function gradInputs(p: RefProblem, seed: number) {
  const r = rng(seed + 1), s = shapes(p);
  const size = (d: number[]) => d.reduce((a, b) => a * b, 1);
  return {...makeValues(p, seed), dOut: randArray(r, size(s.out)), dLse: randArray(r, size(s.lse))};
}
