import type {NamedAttrMap, Tensor} from '@tensorflow/tfjs-core';
import type {ForwardAttrs} from '../kernels/kernel_names';

/** Splits the `saved` list of a forward kernel (all inputs, then saved outputs) back into named inputs. */
export function savedInputs(saved: Tensor[], attrs: NamedAttrMap): {inputs: Record<string, Tensor>, rest: Tensor[]} {
  const names = (attrs as unknown as ForwardAttrs).inputNames;
  const inputs: Record<string, Tensor> = {};
  names.forEach((n, i) => inputs[n] = saved[i]);
  return {inputs, rest: saved.slice(names.length)};
}

/** The gradient map of a forward kernel with array inputs: one lazy function per input position. */
export function gradientMap(attrs: NamedAttrMap, grads: Record<string, Tensor>): Record<string, () => Tensor> {
  const names = (attrs as unknown as ForwardAttrs).inputNames;
  return Object.fromEntries(names.map((n, i) => [String(i), () => grads[n]]));
}
