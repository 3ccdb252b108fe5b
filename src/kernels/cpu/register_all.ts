/** Registers the host-memory kernels for the `cpu` backend and tfjs-node's `tensorflow` backend. */
import {KernelConfig, registerKernel} from '@tensorflow/tfjs-core';
import {avBackwardConfigs} from './NattenAVBackward';
import {avForwardConfigs} from './NattenAVForward';
import {naBackwardConfigs} from './NattenNABackward';
import {naForwardConfigs} from './NattenNAForward';
import {qkBackwardConfigs} from './NattenQKBackward';
import {qkForwardConfigs} from './NattenQKForward';

const configs: KernelConfig[] = [
  ...naForwardConfigs, ...naBackwardConfigs, ...qkForwardConfigs, ...qkBackwardConfigs, ...avForwardConfigs,
  ...avBackwardConfigs,
];
for (const config of configs) {
  registerKernel(config);
}
