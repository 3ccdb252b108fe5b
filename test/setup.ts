/**
 * Jest setup for every suite: full tfjs (its gradients and chained ops), tfjs-natten's kernels, the
 * IS_TEST flag (a kernel that leaks a data id throws), WebGPU in Node (Dawn) and the real `tensorflow`
 * backend (tfjs-node-gpu), with `cpu` left the active backend.
 */
import * as tf from '@tensorflow/tfjs';
import '../src/index';
import {loadTensorflowBackend} from './tensorflow_backend';
import {setupNodeWebGPU} from './webgpu_node';

// Dawn's navigator.gpu before anything loads tfjs's webgpu backend (harness.ts reports a failure).
setupNodeWebGPU();

tf.env().set('IS_TEST', true);
loadTensorflowBackend();
