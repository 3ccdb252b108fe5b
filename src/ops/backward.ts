/**
 * Backward ops, called by the registered gradients. Each runs the backend's backward kernel, or, on a
 * backend that has the forward kernel but no backward one, the gradient of the composed version.
 * They return one gradient per forward input, keyed by the input's name.
 */
import {add, grads, mul, op, sum, Tensor} from '@tensorflow/tfjs-core';
import {computeAVInfo, computeQKVInfo} from '../core/na_info';
import {NAAttrs, NattenAVBackward, NattenNABackward, NattenQKBackward} from '../kernels/kernel_names';
import {composedAV, composedForward, composedQK} from './composed';
import {hasKernel, runKernel} from './dispatch';

type Named = Record<string, Tensor>;

/** Gradients of `loss` (a function of the named inputs) with respect to every input. */
function composedGradients(inputs: Named, loss: (xs: Named) => Tensor): Named {
  const names = Object.keys(inputs);
  const f = (...xs: Tensor[]) => loss(Object.fromEntries(names.map((n, i) => [n, xs[i]])));
  const gs = grads(f)(names.map(n => inputs[n]));
  return Object.fromEntries(names.map((n, i) => [n, gs[i]]));
}

function byName(inputs: Named, order: readonly string[], outputs: Tensor[]): Named {
  const present = order.filter(n => inputs[n] != null);
  return Object.fromEntries(present.map((n, i) => [n, outputs[i]]));
}

function shapeOf(t: Tensor | undefined): number[] | null {
  return t == null ? null : t.shape;
}

/** Gradients of the fused forward given the upstream gradients of its output and logsumexp. */
function naFusedGrad_(inputs: Named, output: Tensor, lse: Tensor, dOutput: Tensor, dLse: Tensor, attrs: NAAttrs):
    Named {
  if (hasKernel(NattenNABackward)) {
    const outs =
        runKernel(NattenNABackward, Object.assign({}, inputs, {output, lse, dOutput, dLse}), attrs) as Tensor[];
    return byName(inputs, ['query', 'key', 'value', 'rpb', 'additionalKeys', 'additionalValues'], outs);
  }
  const info = computeQKVInfo(inputs.query.shape, inputs.key.shape, inputs.value.shape,
                              shapeOf(inputs.additionalKeys), inputs.rpb != null, attrs);
  return composedGradients(inputs, xs => {
    const [o, l] = composedForward(info, xs);
    return add(sum(mul(o, dOutput)), sum(mul(l, dLse)));
  });
}

/** Gradients of the split QK op given the upstream gradient of its logits. */
function naQKGrad_(inputs: Named, dLogits: Tensor, attrs: NAAttrs): Named {
  if (hasKernel(NattenQKBackward)) {
    const outs = runKernel(NattenQKBackward, Object.assign({}, inputs, {dLogits}), attrs) as Tensor[];
    return byName(inputs, ['query', 'key', 'rpb', 'additionalKeys'], outs);
  }
  const info = computeQKVInfo(inputs.query.shape, inputs.key.shape, null, shapeOf(inputs.additionalKeys),
                              inputs.rpb != null, attrs);
  // The loss value is -Infinity (masked slots), but its gradient is finite: `where` routes none to them.
  return composedGradients(inputs, xs => sum(mul(composedQK(info, xs), dLogits)));
}

/** Gradients of the split AV op given the upstream gradient of its output. */
function naAVGrad_(inputs: Named, dOutput: Tensor, attrs: NAAttrs): Named {
  if (hasKernel(NattenAVBackward)) {
    const outs = runKernel(NattenAVBackward, Object.assign({}, inputs, {dOutput}), attrs) as Tensor[];
    return byName(inputs, ['weights', 'value', 'additionalValues'], outs);
  }
  const info = computeAVInfo(inputs.weights.shape, inputs.value.shape, attrs);
  return composedGradients(inputs, xs => sum(mul(composedAV(info, xs), dOutput)));
}

export const naFusedGrad = op({naFusedGrad_});
export const naQKGrad = op({naQKGrad_});
export const naAVGrad = op({naAVGrad_});
