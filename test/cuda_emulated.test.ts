/**
 * The CUDA path without a GPU: the addon built against the host emulator (test/emulator_build.ts; every
 * CUDA thread a fiber, the TF32 MMA, cp.async and shuffles emulated) runs the real kernel, launch, host and
 * Node-API code. Small problems: the self-check of every op in both precisions over the features (1/2/3-D,
 * causal, stride, dilation, GQA, rpb, extra tokens, each head-dim bucket and odd head dims, partial tiles),
 * the error path, routing, workspace reuse and the precision option. The suites on a real device are
 * cuda.test.ts.
 */
import {buildEmulatedAddon} from './emulator_build';

let built: Promise<string> | null = null;
const addonPath = () => (built ??= buildEmulatedAddon());

// The CUDA module reads NATTEN_CUDA_ADDON when it first loads the addon (this file's own module registry).
beforeAll(async () => {
  process.env.NATTEN_CUDA_ADDON = await addonPath();
}, 900000);
afterAll(() => {
  delete process.env.NATTEN_CUDA_ADDON;  // later test files in this worker look for a real device again
});

import {cudaStatus} from '../src/index';
import {EMULATOR_CASES, FORWARD_CONFIG_CASES} from './cuda_cases';
import {errorPathTests, forwardConfigTests, logDevice, precisionTests, routingTests, selfCheckTests} from './cuda_checks';

describe('CUDA kernels on the host emulator', () => {
  it('the emulated addon loads and reports an emulated device', () => {
    const s = cudaStatus();
    logDevice();
    expect(s.reason).toBeNull();
    expect(s.device!.emulated).toBe(true);
  });
  selfCheckTests(EMULATOR_CASES, 11);
  forwardConfigTests(FORWARD_CONFIG_CASES, 13);
  errorPathTests();
  routingTests();
  precisionTests();
});
