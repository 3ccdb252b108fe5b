/** Picks the NA kernels of the active backend, or the composed fallback when it has none. */
import {engine, getBackend, getKernel, NamedAttrMap, Tensor} from '@tensorflow/tfjs-core';
import {isComposedForced} from '../flags';
import type {NAAttrs} from '../kernels/kernel_names';

/** True when the active backend has a kernel of this name (and the composed path is not forced). */
export function hasKernel(kernelName: string): boolean {
  return !isComposedForced() && getKernel(kernelName, getBackend()) != null;
}

/** Runs a forward kernel, passing its inputs as an array named by the attribute `inputNames`. */
export function runForwardKernel(kernelName: string, inputs: Record<string, Tensor>,
                                 attrs: NAAttrs&{needLse?: boolean, training?: boolean}):
    Tensor | Tensor[] {
  const inputNames = Object.keys(inputs);
  const list = inputNames.map(name => inputs[name]);
  return engine().runKernel(kernelName, list as unknown as Record<string, Tensor>,
                            {inputNames, ...attrs} as unknown as NamedAttrMap);
}

export function runKernel(kernelName: string, inputs: Record<string, Tensor>, attrs: NAAttrs): Tensor | Tensor[] {
  return engine().runKernel(kernelName, inputs, attrs as unknown as NamedAttrMap);
}
