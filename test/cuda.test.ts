/**
 * The CUDA kernels on a real device (run by scripts/gpu-cuda-check.sh on the GPU machine): the self-check
 * of the fast kernels against the reference kernels on large random shapes for every op, both precisions
 * (relative error under 1e-3 in TF32, 1e-5 in float32; outputs poisoned with NaN first; a sample here,
 * every case in bench/cuda_selfcheck.ts), then the error path, routing, workspace reuse and the precision
 * option. Without a CUDA device it is skipped, visibly,
 * with the reason. (The suites of goldens, sweep, gradients, split ops, training and layers run on CUDA
 * through the harness's `cpu + cuda` entries.) Only describe/it/beforeAll/afterAll/expect.
 */
import {cudaStatus} from '../src/index';
import {FORWARD_CONFIG_CASES, GPU_CASES} from './cuda_cases';
import {errorPathTests, forwardConfigTests, logDevice, precisionTests, routingTests, selfCheckTests} from './cuda_checks';

const status = cudaStatus();
if (status.available) {
  describe('CUDA kernels on the device', () => {
    it('the addon loads and reports the device', () => {
      logDevice();
      expect(status.device!.emulated).toBe(false);
    });
    // A sample of the large cases (one in four): bench/cuda_selfcheck.ts runs all of them on their own.
    selfCheckTests(GPU_CASES.filter((_, i) => i % 4 === 0), 2025);
    forwardConfigTests(FORWARD_CONFIG_CASES, 2026);
    errorPathTests();
    routingTests();
    precisionTests();
  });
} else {
  console.warn(`tfjs-natten: the CUDA suites (this file, and the harness's "cpu + cuda" entries of every suite) ` +
               `are skipped: no CUDA (${status.reason})`);
  describe.skip(`CUDA kernels on the device: skipped, no CUDA (${status.reason})`, () => {
    it('needs a CUDA device', () => undefined);
  });
}
