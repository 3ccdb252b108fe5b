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
import {CheckSpec, errorPathTests, logDevice, precisionTests, routingTests, selfCheckTests} from './cuda_checks';

const CASES: CheckSpec[] = [
  {spatial: [37], kernel: [7], dilation: [2], causal: [true], heads: 2, headsKv: 1, headDim: 16, rpb: true, extra: 3},
  {spatial: [70], kernel: [9], stride: [3], headDim: 256, headDimV: 200, rpb: true, extra: 1},
  {batch: 2, spatial: [9, 11], kernel: [3, 4], dilation: [2, 1], causal: [false, true], heads: 2, headDim: 8,
   headDimV: 12, rpb: true},
  {spatial: [6, 13], kernel: [3, 5], dilation: [1, 2], heads: 2, headDim: 100, headDimV: 120},
  {spatial: [3, 5, 7], kernel: [2, 3, 3], stride: [1, 2, 1], causal: [true, false, false], heads: 4, headsKv: 2,
   headDim: 64, rpb: true, extra: 2},
  {spatial: [4, 4, 6], kernel: [4, 4, 3], dilation: [1, 1, 2], heads: 1, headDim: 9, headDimV: 5},
];

describe('CUDA kernels on the host emulator', () => {
  it('the emulated addon loads and reports an emulated device', () => {
    const s = cudaStatus();
    logDevice();
    expect(s.reason).toBeNull();
    expect(s.device!.emulated).toBe(true);
  });
  selfCheckTests(CASES, 11);
  errorPathTests();
  routingTests();
  precisionTests();
});
