// Jest's node environment with Node's own typed-array constructors. Jest runs each test file in a separate realm
// and already hands it Node's ArrayBuffer and Uint8Array (for Buffer and TextEncoder); native addons create typed
// arrays in Node's realm too: tfjs-node-gpu's binding returns tensor data as Node's Float32Array, which fails
// `instanceof Float32Array` in the test realm (tfjs's io_utils then refuses to save weights read from the
// `tensorflow` backend: "Unsupported TypedArray subtype: Float32Array"). With one set of constructors, as in a
// plain Node program, both realms' arrays pass.
// It also slows down Dawn's polling of the GPU in this worker (test/webgpu_env.js, throttleDawnPolling).
const {TestEnvironment} = require('jest-environment-node');
const {throttleDawnPolling} = require('./webgpu_env');

const TYPED_ARRAYS = ['Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array',
                      'Uint32Array', 'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array', 'DataView'];

class NodeRealmTypedArrays extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of TYPED_ARRAYS) {
      this.global[name] = globalThis[name];
    }
    // The worker's own global, where Dawn's binding finds setImmediate; the suites see the throttle as
    // `nattenDawnThrottle` (test/webgpu.test.ts checks that Dawn's callbacks go through it).
    this.global.nattenDawnThrottle = throttleDawnPolling(globalThis);
  }
}

module.exports = NodeRealmTypedArrays;
