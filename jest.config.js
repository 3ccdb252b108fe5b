// TensorFlow (the tensorflow backend's tfjs-node-gpu) reads this when it loads in the workers: no INFO/WARNING lines
// (the two absl lines it prints before its logging starts remain, once per worker).
process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
// The WebGPU suites' Vulkan driver, set while the environment is still the real one (test/webgpu_env.js).
require('./test/webgpu_env').applyWebGPUEnv();

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: '<rootDir>/test/environment.js',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {'^.+\\.ts$': ['ts-jest', {tsconfig: 'tsconfig.test.json'}]},
  setupFilesAfterEnv: ['<rootDir>/test/setup.ts'],
  testTimeout: 600000,
  maxWorkers: 2,
  // test/webgpu.test.ts first (test/sequencer.js says why).
  testSequencer: '<rootDir>/test/sequencer.js',
};
