/**
 * Registers the WebGPU kernels for tfjs's `webgpu` backend. This imports nothing of
 * `@tensorflow/tfjs-backend-webgpu` at run time: registration works whether or not that backend is loaded,
 * and each kernel drives the backend instance it is given (`runWebGPUProgram`).
 */
import {KernelConfig, registerKernel} from '@tensorflow/tfjs-core';
import {avBackwardConfig} from './NattenAVBackward';
import {avForwardConfig} from './NattenAVForward';
import {naBackwardConfig} from './NattenNABackward';
import {naForwardConfig} from './NattenNAForward';
import {qkBackwardConfig} from './NattenQKBackward';
import {qkForwardConfig} from './NattenQKForward';

const configs: KernelConfig[] = [
  naForwardConfig, naBackwardConfig, qkForwardConfig, qkBackwardConfig, avForwardConfig, avBackwardConfig,
];
for (const config of configs) {
  registerKernel(config);
}
