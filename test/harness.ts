/**
 * Runs one suite on every backend available to the tests:
 *  - `cpu`: tfjs-natten's CPU kernels on tfjs's cpu backend, native (the natten_cpu addon, which must load:
 *    `npm run build:native`);
 *  - `cpu (webassembly)`: the same with the native kernels off (NATTEN_CPU_NATIVE): the fused ones as
 *    WebAssembly SIMD, what browsers and Node without the addon run;
 *  - `tensorflow (simulated)`: the kernels tfjs-natten registers for tfjs-node's `tensorflow` backend,
 *    run on a host-memory backend registered under that name (tfjs's cpu backend with tfjs's cpu kernels
 *    copied over). tfjs-node itself cannot be installed offline; this proves those registrations work
 *    through `readSync`/`write` alone;
 *  - `cpu (js row kernels)`: the CPU kernels with WebAssembly off: the fused kernels run their generated
 *    JavaScript row kernels (what runs where WebAssembly SIMD or synchronous compilation is unavailable);
 *  - `cpu (generic loops)`: the CPU kernels with code generation off (what runs where `new Function` is
 *    forbidden, or for head dims above 128);
 *  - `composed`: the fallback made of tfjs primitive ops (what webgl, wasm, ... run), forced on cpu.
 */
import * as tf from '@tensorflow/tfjs';
import {MathBackendCPU} from '@tensorflow/tfjs-backend-cpu';
import {NATTEN_CPU_CODEGEN, NATTEN_CPU_NATIVE, NATTEN_CPU_WASM, NATTEN_FORCE_COMPOSED, nativeStatus} from '../src/index';

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
}

export const CPU: TestBackend = {name: 'cpu', backend: 'cpu', composed: false};
export const TENSORFLOW_SIM: TestBackend = {name: 'tensorflow (simulated)', backend: 'tensorflow', composed: false};
export const CPU_WASM: TestBackend = {name: 'cpu (webassembly)', backend: 'cpu', composed: false, native: false};
export const CPU_JS: TestBackend = {name: 'cpu (js row kernels)', backend: 'cpu', composed: false, wasm: false};
export const CPU_GENERIC: TestBackend = {name: 'cpu (generic loops)', backend: 'cpu', composed: false, codegen: false};
export const COMPOSED: TestBackend = {name: 'composed fallback', backend: 'cpu', composed: true};
export const ALL_BACKENDS: TestBackend[] = [CPU, CPU_WASM, TENSORFLOW_SIM, CPU_JS, CPU_GENERIC, COMPOSED];

let simulated = false;

export function registerSimulatedTensorflowBackend(): void {
  if (simulated || tf.findBackend('tensorflow') != null) {
    return;
  }
  simulated = true;
  tf.registerBackend('tensorflow', () => new MathBackendCPU(), 0);
  for (const config of tf.getKernelsForBackend('cpu')) {
    if (!config.kernelName.startsWith('Natten')) {
      tf.registerKernel({...config, backendName: 'tensorflow'});
    }
  }
}

export async function useBackend(b: TestBackend): Promise<void> {
  await tf.setBackend(b.backend);
  tf.env().set(NATTEN_FORCE_COMPOSED, b.composed);
  tf.env().set(NATTEN_CPU_CODEGEN, b.codegen !== false);
  tf.env().set(NATTEN_CPU_WASM, b.wasm !== false);
  tf.env().set(NATTEN_CPU_NATIVE, b.native !== false);
  const native = !b.composed && b.codegen !== false && b.wasm !== false && b.native !== false;
  const status = nativeStatus().cpu;
  if (native && !status.loaded) {
    throw new Error(`${b.name}: the native CPU kernels did not load (${status.reason}); npm run build:native`);
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
  return backends.filter(b => names.includes(b.name));
}

/** `describe` once per backend, activating it (and the composed flag) around the suite. */
export function describeAllBackends(title: string, body: (b: TestBackend) => void,
                                    backends: TestBackend[] = ALL_BACKENDS): void {
  for (const b of selected(backends)) {
    describe(`${title} [${b.name}]`, () => {
      beforeAll(() => useBackend(b));
      afterAll(() => useBackend(CPU));
      body(b);
    });
  }
}
