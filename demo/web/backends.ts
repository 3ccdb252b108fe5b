/** Backend switching for the page's sections, one job at a time (training and timing both switch backends). */
import * as tf from '@tensorflow/tfjs';
import {cpuKernelPath, kernelNames} from '../../src/index';

/** Where the page serves the wasm backend's .wasm files (demo/web/serve.ts). */
const WASM_PATH = '/vendor/tfjs-backend-wasm/';

/** The backends the page offers; "auto" tries webgpu, then webgl, then cpu. */
export const ALL_BACKENDS = ['cpu', 'wasm', 'webgl', 'webgpu'];

/** What this browser offers for one backend. */
export interface BackendProbe {
  name: string;
  available: boolean;
  /** The device: a WebGPU adapter's vendor and architecture, a WebGL renderer; '' for cpu and wasm. */
  device: string;
  /** A software (CPU) implementation of the GPU API, e.g. SwiftShader: slower here than the cpu backend. */
  software: boolean;
}

const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|software/i;

async function probeWebGPU(): Promise<BackendProbe> {
  type Adapter = {info?: Record<string, string | boolean>, isFallbackAdapter?: boolean};
  const gpu = (navigator as unknown as {gpu?: {requestAdapter(): Promise<Adapter | null>}}).gpu;
  const adapter = gpu == null ? null : await gpu.requestAdapter().catch(() => null);
  if (adapter == null) {
    return {name: 'webgpu', available: false, device: gpu == null ? 'no navigator.gpu' : 'no adapter', software: false};
  }
  const info = adapter.info ?? {};
  const device = ['vendor', 'architecture', 'description'].map(k => info[k]).filter(v => v).join(' ');
  return {name: 'webgpu', available: true, device,
          software: Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter) || SOFTWARE.test(device)};
}

function probeWebGL(): BackendProbe {
  const gl = document.createElement('canvas').getContext('webgl2');
  if (gl == null) {
    return {name: 'webgl', available: false, device: 'no WebGL 2', software: false};
  }
  const debug = gl.getExtension('WEBGL_debug_renderer_info');
  const device = String(gl.getParameter(debug != null ? debug.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
  gl.getExtension('WEBGL_lose_context')?.loseContext();
  return {name: 'webgl', available: true, device, software: SOFTWARE.test(device)};
}

/** What each backend would run on here. */
export async function probeBackends(): Promise<BackendProbe[]> {
  return [
    await probeWebGPU(), probeWebGL(),
    {name: 'wasm', available: tf.findBackendFactory('wasm') != null, device: '', software: false},
    {name: 'cpu', available: true, device: '', software: false},
  ];
}

/**
 * "auto": webgpu, else webgl, else cpu, skipping GPU APIs that run on a software adapter (SwiftShader on a
 * machine without a GPU runs the NA model's training steps tens of times slower than the cpu backend).
 */
export function autoChoice(probes: BackendProbe[]): string {
  const usable = (name: string) => probes.some(p => p.name === name && p.available && !p.software);
  return ['webgpu', 'webgl'].find(usable) ?? 'cpu';
}

let wasmPathSet = false;

/** Activates `name`; false when this browser cannot run it (no WebGPU adapter, no WebGL, ...). */
export async function activate(name: string): Promise<boolean> {
  if (name === 'wasm' && !wasmPathSet) {
    (tf as unknown as {wasm: {setWasmPaths(p: string): void}}).wasm.setWasmPaths(WASM_PATH);
    wasmPathSet = true;
  }
  if (tf.findBackendFactory(name) == null) {
    return false;
  }
  try {
    return await tf.setBackend(name);
  } catch {
    return false;
  }
}

/** How the NA ops run on the active backend, in words. */
export function describeNAPath(headDim: number): string {
  const backend = tf.getBackend();
  if (tf.getKernel(kernelNames.NattenNAForward, backend) == null) {
    return 'composed fallback';
  }
  if (backend === 'cpu') {
    const path = cpuKernelPath(headDim);
    return `tfjs-natten kernels (${path === 'wasm' ? 'WebAssembly SIMD' : path === 'codegen' ? 'JS row kernels' :
                                                                                              'generic loops'})`;
  }
  return 'tfjs-natten kernels';
}

let busy: Promise<unknown> = Promise.resolve();

/** Runs jobs one after another, so two sections never switch backends under each other. */
function exclusive<T>(job: () => Promise<T>): Promise<T> {
  const next = busy.then(job, job);
  busy = next.catch(() => undefined);
  return next;
}

/**
 * Makes `button` run `job` (one job of the page at a time), disabled while it runs; a failure is shown in
 * `status` (`data-state="failed"`) as "`what` failed: message".
 */
export function runOnClick(button: HTMLButtonElement, status: HTMLElement, what: string, job: () => Promise<void>):
    void {
  button.addEventListener('click', () => {
    button.disabled = true;
    exclusive(job).catch((e: Error) => {
      status.textContent = `${what} failed: ${e.message}`;
      status.dataset.state = 'failed';
    }).finally(() => button.disabled = false);
  });
}
