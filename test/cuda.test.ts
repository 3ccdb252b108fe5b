/**
 * The CUDA kernels on a real device (run by scripts/gpu-cuda-check.sh on the GPU machine): the self-check
 * of the fast kernels against the reference kernels on large random shapes for every op, both precisions
 * (relative error under 1e-3 in TF32, 1e-5 in float32; outputs poisoned with NaN first), then the error
 * path, routing, workspace reuse and the precision option. Without a CUDA device it is skipped, visibly,
 * with the reason. (The suites of goldens, sweep, gradients, split ops, training and layers run on CUDA
 * through the harness's `cpu + cuda` entries.) Only describe/it/beforeAll/afterAll/expect.
 */
import {cudaStatus} from '../src/index';
import {CheckSpec, errorPathTests, logDevice, precisionTests, routingTests, selfCheckTests} from './cuda_checks';

/** Large random shapes: every op, 1/2/3-D, causal, stride, dilation, GQA, rpb, extra tokens, head dims 32 to 256
 * and odd ones, partial tiles on every axis. */
export const GPU_CASES: CheckSpec[] = [
  {batch: 2, spatial: [2000], kernel: [63], dilation: [2], causal: [true], heads: 4, headsKv: 2, headDim: 32, rpb: true,
   extra: 3},
  {spatial: [4096], kernel: [255], stride: [4], heads: 2, headDim: 64},
  {spatial: [1500], kernel: [33], dilation: [3], heads: 2, headDim: 128},
  {spatial: [700], kernel: [17], heads: 1, headDim: 256, extra: 2},
  {batch: 2, spatial: [40, 52], kernel: [7, 9], dilation: [1, 2], causal: [true, false], heads: 4, headsKv: 2,
   headDim: 32, rpb: true},
  {spatial: [64, 64], kernel: [13, 13], stride: [2, 2], heads: 4, headDim: 64, extra: 4},
  {spatial: [33, 47], kernel: [5, 11], dilation: [2, 1], causal: [false, true], heads: 2, headsKv: 1, headDim: 128,
   headDimV: 96, rpb: true},
  {spatial: [24, 24], kernel: [7, 7], heads: 2, headDim: 256, rpb: true},
  {spatial: [8, 20, 20], kernel: [3, 5, 5], causal: [true, false, false], heads: 4, headsKv: 2, headDim: 32, rpb: true,
   extra: 2},
  {spatial: [10, 16, 24], kernel: [4, 8, 8], stride: [2, 2, 1], dilation: [1, 1, 2], heads: 2, headDim: 64},
  {spatial: [6, 12, 12], kernel: [3, 7, 7], causal: [true, true, true], heads: 2, headDim: 128},
  {spatial: [5, 10, 10], kernel: [3, 3, 3], heads: 1, headDim: 256, rpb: true, extra: 1},
  {spatial: [30, 30], kernel: [7, 7], heads: 2, headDim: 40, headDimV: 24, rpb: true},
  {spatial: [999], kernel: [31], heads: 2, headDim: 97, extra: 5},
  {spatial: [7, 9, 11], kernel: [3, 3, 5], dilation: [2, 1, 1], heads: 3, headsKv: 1, headDim: 13},
  {spatial: [20, 20], kernel: [5, 5], heads: 1, headDim: 7, headDimV: 3},
];

const status = cudaStatus();
if (status.available) {
  describe('CUDA kernels on the device', () => {
    it('the addon loads and reports the device', () => {
      logDevice();
      expect(status.device!.emulated).toBe(false);
    });
    selfCheckTests(GPU_CASES, 2025);
    errorPathTests();
    routingTests();
    precisionTests();
  });
} else {
  describe.skip(`CUDA kernels on the device: skipped, no CUDA (${status.reason})`, () => {
    it('needs a CUDA device', () => undefined);
  });
}
