import type {GradConfig, NamedAttrMap, Tensor} from '@tensorflow/tfjs-core';
import {ForwardAttrs, NattenQKForward} from '../kernels/kernel_names';
import {naQKGrad} from '../ops/backward';
import {gradientMap, savedInputs} from './grad_util';

export const qkForwardGradConfig: GradConfig = {
  kernelName: NattenQKForward,
  saveAllInputs: true,
  gradFunc: (dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
    const {inputs} = savedInputs(saved, attrs);
    return gradientMap(attrs, naQKGrad(inputs, dy as Tensor, attrs as unknown as ForwardAttrs));
  },
};
