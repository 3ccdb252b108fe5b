/** Registers the host-memory kernels for the `cpu` backend (the `tensorflow` backend's are in ../tensorflow). */
import {KernelConfig, registerKernel} from '@tensorflow/tfjs-core';
import {avBackwardConfig} from './NattenAVBackward';
import {avForwardConfig} from './NattenAVForward';
import {naBackwardConfig} from './NattenNABackward';
import {naForwardConfig} from './NattenNAForward';
import {qkBackwardConfig} from './NattenQKBackward';
import {qkForwardConfig} from './NattenQKForward';

const configs: KernelConfig[] =
    [naForwardConfig, naBackwardConfig, qkForwardConfig, qkBackwardConfig, avForwardConfig, avBackwardConfig];
for (const config of configs) {
  registerKernel(config);
}
