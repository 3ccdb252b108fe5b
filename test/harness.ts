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
 *  - `webgpu`: tfjs-natten's WebGPU kernels on tfjs's webgpu backend, in Node through Dawn on a software
 *    Vulkan driver (test/webgpu_node.ts). It must be available: a missing adapter fails these suites.
 *    The fused kernels pick their programs by shape ('auto'); test/webgpu.test.ts runs the tiled ones.
 */
import * as tf from '@tensorflow/tfjs';
import {MathBackendCPU} from '@tensorflow/tfjs-backend-cpu';
import {NATTEN_CPU_CODEGEN, NATTEN_CPU_WASM, NATTEN_FORCE_COMPOSED, NATTEN_WEBGPU_FUSED} from '../src/index';
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
  /** The fused WebGPU programs: 'auto' (default), 'row' or 'tiled'. */
  webgpuFused?: string;
}

export const CPU: TestBackend = {name: 'cpu', backend: 'cpu', composed: false};
export const TENSORFLOW_SIM: TestBackend = {name: 'tensorflow (simulated)', backend: 'tensorflow', composed: false};
export const CPU_JS: TestBackend = {name: 'cpu (js row kernels)', backend: 'cpu', composed: false, wasm: false};
export const CPU_GENERIC: TestBackend = {name: 'cpu (generic loops)', backend: 'cpu', composed: false, codegen: false};
export const COMPOSED: TestBackend = {name: 'composed fallback', backend: 'cpu', composed: true};
export const WEBGPU: TestBackend = {name: 'webgpu', backend: 'webgpu', composed: false};
export const WEBGPU_TILED: TestBackend = {name: 'webgpu (tiled)', backend: 'webgpu', composed: false, webgpuFused: 'tiled'};
export const ALL_BACKENDS: TestBackend[] = [CPU, TENSORFLOW_SIM, CPU_JS, CPU_GENERIC, COMPOSED, WEBGPU];

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
}

/** `describe` once per backend, activating it (and the composed flag) around the suite. */
export function describeAllBackends(title: string, body: (b: TestBackend) => void,
                                    backends: TestBackend[] = ALL_BACKENDS): void {
  for (const b of backends) {
    describe(`${title} [${b.name}]`, () => {
      beforeAll(() => useBackend(b));
      afterAll(() => useBackend(CPU));
      body(b);
    });
  }
}

/** A tensor's values, read asynchronously (the webgpu backend cannot read synchronously in Node). */
export function read(t: tf.Tensor): Promise<Float32Array> {
  return t.data() as Promise<Float32Array>;
}
