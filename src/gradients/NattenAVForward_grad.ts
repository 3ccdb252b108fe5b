import type {GradConfig, NamedAttrMap, Tensor} from '@tensorflow/tfjs-core';
import {ForwardAttrs, NattenAVForward} from '../kernels/kernel_names';
import {naAVGrad} from '../ops/backward';
import {gradientMap, savedInputs} from './grad_util';

export const avForwardGradConfig: GradConfig = {
  kernelName: NattenAVForward,
  saveAllInputs: true,
  gradFunc: (dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
    const {inputs} = savedInputs(saved, attrs);
    return gradientMap(attrs, naAVGrad(inputs, dy as Tensor, attrs as unknown as ForwardAttrs));
  },
};
