/** tfjs-natten: neighborhood attention for TensorFlow.js. */
import './register_all';

export * from './base';
