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
