/** Registers the NA kernels of tfjs-node's `tensorflow` backend (TensorFlow ops, else the host kernels). */
import {registerKernel} from '@tensorflow/tfjs-core';
import {tfKernelConfigs} from './tf_kernels';

for (const config of tfKernelConfigs) {
  registerKernel(config);
}
