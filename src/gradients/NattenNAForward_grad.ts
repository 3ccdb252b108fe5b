import type {GradConfig, NamedAttrMap, Tensor} from '@tensorflow/tfjs-core';
import {ForwardAttrs, NattenNAForward} from '../kernels/kernel_names';
import {naFusedGrad} from '../ops/backward';
import {gradientMap, savedInputs} from './grad_util';

/** Saves every input and both outputs; `dy` holds the gradients of the output and of the logsumexp. */
export const naForwardGradConfig: GradConfig = {
  kernelName: NattenNAForward,
  saveAllInputs: true,
  outputsToSave: [true, true],
  gradFunc: (dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
    const [dOutput, dLse] = dy as Tensor[];
    const {inputs, rest: [output, lse]} = savedInputs(saved, attrs);
    return gradientMap(attrs, naFusedGrad(inputs, output, lse, dOutput, dLse, attrs as unknown as ForwardAttrs));
  },
};
