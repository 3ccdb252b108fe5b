/**
 * Jest setup for every suite: full tfjs (its gradients and chained ops), tfjs-natten's kernels, the
 * IS_TEST flag (a kernel that leaks a data id throws) and the simulated `tensorflow` backend.
 */
import * as tf from '@tensorflow/tfjs';
import '../src/index';
import {registerSimulatedTensorflowBackend} from './harness';

tf.env().set('IS_TEST', true);
registerSimulatedTensorflowBackend();
