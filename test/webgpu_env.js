/**
 * Points the Vulkan loader at the software driver that scripts/webgpu-driver.sh unpacks into .webgpu/, unless
 * VK_ICD_FILENAMES is already set. The loader reads the variable from the real process environment, so this
 * runs where that environment is still ours: in jest.config.js (before test processes start) and in the
 * benchmark's entry point.
 */
const fs = require('fs');
const path = require('path');

function applyWebGPUEnv() {
  const icd = path.join(__dirname, '..', '.webgpu', 'lvp_icd.json');
  if (process.env.VK_ICD_FILENAMES == null && fs.existsSync(icd)) {
    process.env.VK_ICD_FILENAMES = icd;
  }
}

/**
 * Dawn's Node binding waits for GPU work (a readback, a pipeline) by calling `setImmediate` on the process's own
 * global, again and again, until the work is done: a main thread at 100% of a core. On a software driver that
 * work is lavapipe compiling a pipeline on another thread, often for seconds, so on CI's 2 cores the spinning
 * took a core from the compiler and from the other jest worker (bench/RESULTS.md, session of 2026-11-30 09:10:
 * a cold compile beside a busy core, 99 s spinning against 65 s). In the test workers (test/environment.js) its
 * callbacks, the only anonymous native functions given to `setImmediate`, run after a 1 ms timer instead.
 * The benchmark's GPU timing (bench/gpu_time.ts) polls through it too: each poll also leaves a function for the
 * garbage collector, whose pauses otherwise stretched its batches. Returns the throttled setImmediate
 * (`nattenDeferred`: the callbacks it deferred).
 */
function throttleDawnPolling(target) {
  const immediate = target.setImmediate;
  if (immediate.nattenThrottled) {
    return immediate;
  }
  const throttled = function (fn, ...args) {
    if (typeof fn === 'function' && fn.name === '' && Function.prototype.toString.call(fn).includes('[native code]')) {
      throttled.nattenDeferred++;
      return target.setTimeout(fn, 1, ...args);
    }
    return immediate(fn, ...args);
  };
  throttled.nattenThrottled = true;
  throttled.nattenDeferred = 0;  // callbacks deferred so far (test/webgpu.test.ts checks that Dawn's are)
  target.setImmediate = throttled;
  return throttled;
}

module.exports = {applyWebGPUEnv, throttleDawnPolling};
