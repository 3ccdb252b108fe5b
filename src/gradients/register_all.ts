/** Registers the gradients of the NA forward kernels (used on every backend that has the kernels). */
import {registerGradient} from '@tensorflow/tfjs-core';
import {avForwardGradConfig} from './NattenAVForward_grad';
import {naForwardGradConfig} from './NattenNAForward_grad';
import {qkForwardGradConfig} from './NattenQKForward_grad';

for (const config of [naForwardGradConfig, qkForwardGradConfig, avForwardGradConfig]) {
  registerGradient(config);
}
