// The WebGPU suites' Vulkan driver, set while the environment is still the real one (test/webgpu_env.js).
require('./test/webgpu_env').applyWebGPUEnv();

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {'^.+\\.ts$': ['ts-jest', {tsconfig: 'tsconfig.test.json'}]},
  setupFilesAfterEnv: ['<rootDir>/test/setup.ts'],
  testTimeout: 600000,
  maxWorkers: 2,
};
