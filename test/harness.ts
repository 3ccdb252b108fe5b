/**
 * Runs one suite on every backend available to the tests:
 *  - `cpu`: tfjs-natten's CPU kernels on tfjs's cpu backend (the fused ones as WebAssembly SIMD);
 *  - `tensorflow (simulated)`: the kernels tfjs-natten registers for tfjs-node's `tensorflow` backend,
 *    run on a host-memory backend registered under that name (tfjs's cpu backend with tfjs's cpu kernels
 *    copied over). tfjs-node itself cannot be installed offline; this proves those registrations work
 *    through `readSync`/`write` alone;
 *  - `cpu (js row kernels)`: the CPU kernels with WebAssembly off: the fused kernels run their generated
 *    JavaScript row kernels (what runs where WebAssembly SIMD or synchronous compilation is unavailable);
 *  - `cpu (generic loops)`: the CPU kernels with code generation off (what runs where `new Function` is
 *    forbidden, or for head dims above 128);
 *  - `composed`: the fallback made of tfjs primitive ops (what webgl, wasm, ... run), forced on cpu;
 *  - `cpu + cuda (tf32)` and `cpu + cuda (float32)`: the CUDA kernels, routed from the cpu backend with
 *    enableCuda, in TF32 (tolerances widened: util.ts, TF32_RELATIVE) and in full float32. Without a CUDA
 *    device these suites are skipped, visibly, with the reason.
 * NATTEN_TEST_BACKENDS=cuda (or a comma-separated list of names) runs only the matching entries.
 */
import * as tf from '@tensorflow/tfjs';
import {MathBackendCPU} from '@tensorflow/tfjs-backend-cpu';
import {cudaStatus, disableCuda, enableCuda, NATTEN_CPU_CODEGEN, NATTEN_CPU_WASM, NATTEN_FORCE_COMPOSED} from '../src/index';
import {setTf32Tolerance} from './util';

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
  /** The backend's NA kernels run on CUDA (enableCuda), with this precision. */
  cuda?: 'tf32' | 'float32';
}

export const CPU: TestBackend = {name: 'cpu', backend: 'cpu', composed: false};
export const TENSORFLOW_SIM: TestBackend = {name: 'tensorflow (simulated)', backend: 'tensorflow', composed: false};
export const CPU_JS: TestBackend = {name: 'cpu (js row kernels)', backend: 'cpu', composed: false, wasm: false};
export const CPU_GENERIC: TestBackend = {name: 'cpu (generic loops)', backend: 'cpu', composed: false, codegen: false};
export const COMPOSED: TestBackend = {name: 'composed fallback', backend: 'cpu', composed: true};
export const CUDA_TF32: TestBackend = {name: 'cpu + cuda (tf32)', backend: 'cpu', composed: false, cuda: 'tf32'};
export const CUDA_FLOAT32: TestBackend = {name: 'cpu + cuda (float32)', backend: 'cpu', composed: false,
                                          cuda: 'float32'};

/** The entries NATTEN_TEST_BACKENDS selects: 'cuda' for the CUDA ones, or names separated by commas. */
function selected(list: TestBackend[]): TestBackend[] {
  const wanted = process.env.NATTEN_TEST_BACKENDS;
  if (!wanted) {
    return list;
  }
  const names = wanted.split(',').map(n => n.trim());
  return list.filter(b => names.includes(b.name) || (names.includes('cuda') && b.cuda != null));
}

export const ALL_BACKENDS: TestBackend[] =
    selected([CPU, TENSORFLOW_SIM, CPU_JS, CPU_GENERIC, COMPOSED, CUDA_TF32, CUDA_FLOAT32]);

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
  if (b.cuda != null) {
    enableCuda({backend: b.backend});
    process.env.NATTEN_CUDA_ALLOW_TF32 = b.cuda === 'tf32' ? '1' : '0';
  } else {
    disableCuda();  // the host kernels, also on a machine whose tensorflow backend would use CUDA
    delete process.env.NATTEN_CUDA_ALLOW_TF32;
  }
  setTf32Tolerance(b.cuda === 'tf32');
}

/** `describe` once per backend, activating it (and the composed flag) around the suite. */
export function describeAllBackends(title: string, body: (b: TestBackend) => void,
                                    backends: TestBackend[] = ALL_BACKENDS): void {
  for (const b of backends) {
    const status = b.cuda == null ? null : cudaStatus();
    if (status != null && !status.available) {
      // Visible in jest's report as skipped tests, with the reason in the suite's title.
      describe.skip(`${title} [${b.name}] skipped: no CUDA (${status.reason})`, () => body(b));
      continue;
    }
    describe(`${title} [${b.name}]`, () => {
      beforeAll(() => useBackend(b));
      afterAll(() => useBackend(CPU));
      body(b);
    });
  }
}
