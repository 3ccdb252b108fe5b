/**
 * Runs one suite on every backend available to the tests:
 *  - `cpu`: tfjs-natten's CPU kernels on tfjs's cpu backend, native (the natten_cpu addon, which must load:
 *    `npm run build:native`);
 *  - `cpu (webassembly)`: the same with the native kernels off (NATTEN_CPU_NATIVE): the fused ones as
 *    WebAssembly SIMD, what browsers and Node without the addon run;
 *  - `tensorflow`: the real tfjs-node backend (@tensorflow/tfjs-node-gpu over TensorFlow's C library, set up
 *    by `npm run setup:tfjs-node`): NA runs as TensorFlow ops (the natten_tf addon, which must load:
 *    `npm run build:native` after the set-up), every other op TensorFlow's own. Without the set-up these
 *    suites fail, saying to run it (test/tensorflow_backend.ts). `NATTEN_TEST_WITHOUT_TENSORFLOW=1` leaves
 *    it out of ALL_BACKENDS, for bundles run where tfjs-node cannot be (the GPU machine);
 *    test/tensorflow_backend.test.ts still fails there;
 *  - `tensorflow (host kernels)`: the same with the TensorFlow ops off (NATTEN_TF_OPS): tfjs-natten's host
 *    kernels (native) through `readSync`/`write`, what runs where natten_tf is unavailable;
 *  - `cpu (js row kernels)`: the CPU kernels with WebAssembly off: the fused kernels run their generated
 *    JavaScript row kernels (what runs where WebAssembly SIMD or synchronous compilation is unavailable);
 *  - `cpu (generic loops)`: the CPU kernels with code generation off (what runs where `new Function` is
 *    forbidden, or for head dims above 128);
 *  - `composed`: the fallback made of tfjs primitive ops (what webgl, wasm, ... run), forced on cpu;
 *  - `webgpu`: tfjs-natten's WebGPU kernels on tfjs's webgpu backend, in Node through Dawn on a software
 *    Vulkan driver (test/webgpu_node.ts). It must be available: a missing adapter fails these suites.
 *    The fused kernels pick their programs by shape ('auto'); test/webgpu.test.ts runs the tiled ones;
 *  - `cpu + cuda (tf32)` and `cpu + cuda (float32)`: the CUDA kernels, routed from the cpu backend with
 *    enableCuda, in TF32 (tolerances widened: util.ts, TF32_RELATIVE) and in full float32. Without a CUDA
 *    device these suites are skipped, visibly, with the reason (they run on the GPU machine).
 * NATTEN_TEST_BACKENDS (names, comma-separated; `cuda` for both CUDA entries) runs only the matching entries.
 */
import * as tf from '@tensorflow/tfjs';
import {cudaStatus, disableCuda, enableCuda, NATTEN_CPU_CODEGEN, NATTEN_CPU_NATIVE, NATTEN_CPU_WASM,
        NATTEN_FORCE_COMPOSED, NATTEN_TF_OPS, NATTEN_WEBGPU_FUSED, nativeStatus} from '../src/index';
import {loadTfOps} from '../src/kernels/tensorflow/tf_ops';
import {requireTensorflowBackend} from './tensorflow_backend';
import {setTf32Tolerance} from './util';
import {setupNodeWebGPU} from './webgpu_node';

export interface TestBackend {
  /** Name shown in test titles. */
  name: string;
  /** tfjs backend to activate. */
  backend: string;
  /** Whether the composed fallback is forced. */
  composed: boolean;
  /** Whether the CPU kernels may generate code (default true). */
  codegen?: boolean;
  /** Whether the fused CPU kernels may run as WebAssembly (default true). */
  wasm?: boolean;
  /** Whether the CPU kernels may run natively (default true; then the natten_cpu addon must load). */
  native?: boolean;
  /** Whether NA runs as TensorFlow ops on `tensorflow` (default true; then the natten_tf addon must load). */
  tfOps?: boolean;
  /** The fused WebGPU programs: 'auto' (default), 'row' or 'tiled'. */
  webgpuFused?: string;
  /** The backend's NA kernels run on CUDA (enableCuda), with this precision. */
  cuda?: 'tf32' | 'float32';
}

export const CPU: TestBackend = {name: 'cpu', backend: 'cpu', composed: false};
export const CPU_WASM: TestBackend = {name: 'cpu (webassembly)', backend: 'cpu', composed: false, native: false};
export const TENSORFLOW: TestBackend = {name: 'tensorflow', backend: 'tensorflow', composed: false};
export const TENSORFLOW_HOST: TestBackend =
    {name: 'tensorflow (host kernels)', backend: 'tensorflow', composed: false, tfOps: false};
export const CPU_JS: TestBackend = {name: 'cpu (js row kernels)', backend: 'cpu', composed: false, wasm: false};
export const CPU_GENERIC: TestBackend = {name: 'cpu (generic loops)', backend: 'cpu', composed: false, codegen: false};
export const COMPOSED: TestBackend = {name: 'composed fallback', backend: 'cpu', composed: true};
const withoutTensorflow = process.env.NATTEN_TEST_WITHOUT_TENSORFLOW === '1';
if (withoutTensorflow) {
  console.warn('NATTEN_TEST_WITHOUT_TENSORFLOW=1: the suites leave out the tensorflow backend');
}
export const WEBGPU: TestBackend = {name: 'webgpu', backend: 'webgpu', composed: false};
export const WEBGPU_TILED: TestBackend = {name: 'webgpu (tiled)', backend: 'webgpu', composed: false, webgpuFused: 'tiled'};
export const WEBGPU_ROW: TestBackend = {name: 'webgpu (row)', backend: 'webgpu', composed: false, webgpuFused: 'row'};
export const CUDA_TF32: TestBackend = {name: 'cpu + cuda (tf32)', backend: 'cpu', composed: false, cuda: 'tf32'};
export const CUDA_FLOAT32: TestBackend = {name: 'cpu + cuda (float32)', backend: 'cpu', composed: false,
                                          cuda: 'float32'};
export const ALL_BACKENDS: TestBackend[] =
    [CPU, CPU_WASM, TENSORFLOW, TENSORFLOW_HOST, CPU_JS, CPU_GENERIC, COMPOSED, WEBGPU, CUDA_TF32, CUDA_FLOAT32]
        .filter(b => !(b.backend === 'tensorflow' && withoutTensorflow));
/** The backends as users run them (no forced kernel path or fallback), for suites where those add nothing. */
export const USER_BACKENDS: TestBackend[] = ALL_BACKENDS.filter(b => b === CPU || b === TENSORFLOW);

export async function useBackend(b: TestBackend): Promise<void> {
  if (b.backend === 'tensorflow') {
    requireTensorflowBackend();
  }
  if (b.backend === 'webgpu') {
    const setup = setupNodeWebGPU();
    if (!setup.ok || !(await tf.setBackend('webgpu'))) {
      throw new Error(`the webgpu backend is unavailable (${setup.reason || 'no adapter'}): run ` +
                      'scripts/webgpu-driver.sh (a software Vulkan driver) or set VK_ICD_FILENAMES');
    }
  }
  await tf.setBackend(b.backend);
  tf.env().set(NATTEN_WEBGPU_FUSED, b.webgpuFused ?? 'auto');
  tf.env().set(NATTEN_FORCE_COMPOSED, b.composed);
  tf.env().set(NATTEN_CPU_CODEGEN, b.codegen !== false);
  tf.env().set(NATTEN_CPU_WASM, b.wasm !== false);
  tf.env().set(NATTEN_CPU_NATIVE, b.native !== false);
  tf.env().set(NATTEN_TF_OPS, b.tfOps !== false);
  if (b.cuda != null) {
    enableCuda({backend: b.backend});
    process.env.NATTEN_CUDA_ALLOW_TF32 = b.cuda === 'tf32' ? '1' : '0';
  } else {
    disableCuda();  // the host kernels, also on a machine whose tensorflow backend would use CUDA
    delete process.env.NATTEN_CUDA_ALLOW_TF32;
  }
  setTf32Tolerance(b.cuda === 'tf32');
}

/**
 * Throws unless the native addons a host backend entry runs are there: natten_cpu where the CPU kernels run
 * natively, natten_tf where NA runs as TensorFlow ops. (Not part of useBackend: switching back to `cpu` after
 * a suite must work on machines without them, such as the GPU machine.)
 */
function requireNative(b: TestBackend): void {
  const hostKernels = b.cuda == null && (b.backend === 'cpu' || (b.backend === 'tensorflow' && b.tfOps === false));
  const native = hostKernels && !b.composed && b.codegen !== false && b.wasm !== false && b.native !== false;
  const status = nativeStatus();
  if (native && !status.cpu.loaded) {
    throw new Error(`${b.name}: the native CPU kernels did not load (${status.cpu.reason}); npm run build:native`);
  }
  if (b.backend === 'tensorflow' && b.tfOps !== false && loadTfOps(tf.backend()) == null) {
    throw new Error(`${b.name}: the NA TensorFlow ops did not load (${nativeStatus().tensorflow.reason}); ` +
                    'npm run build:native after npm run setup:tfjs-node');
  }
}

/**
 * The environment variable NATTEN_TEST_BACKENDS (names from TestBackend.name, comma-separated) keeps only
 * those backends: the GPU machine runs the suites on its GPU backends alone.
 */
function selected(backends: TestBackend[]): TestBackend[] {
  const only = process.env.NATTEN_TEST_BACKENDS;
  if (only == null || only === '') {
    return backends;
  }
  const names = only.split(',').map(n => n.trim());
  return backends.filter(b => names.includes(b.name) || (names.includes('cuda') && b.cuda != null));
}

/** `describe` once per backend, activating it (and the composed flag) around the suite. */
export function describeAllBackends(title: string, body: (b: TestBackend) => void,
                                    backends: TestBackend[] = ALL_BACKENDS): void {
  for (const b of selected(backends)) {
    const status = b.cuda == null ? null : cudaStatus();
    if (status != null && !status.available) {
      // Visible in jest's report as skipped tests, with the reason in the suite's title.
      describe.skip(`${title} [${b.name}] skipped: no CUDA (${status.reason})`, () => body(b));
      continue;
    }
    describe(`${title} [${b.name}]`, () => {
      beforeAll(async () => {
        await useBackend(b);
        requireNative(b);
      });
      afterAll(() => useBackend(CPU));
      body(b);
    });
  }
}

/** A tensor's values, read asynchronously (the webgpu backend cannot read synchronously in Node). */
export function read(t: tf.Tensor): Promise<Float32Array> {
  return t.data() as Promise<Float32Array>;
}
