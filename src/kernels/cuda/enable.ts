/**
 * Which host backends send their NA kernels to CUDA. `tensorflow` (tfjs-node / tfjs-node-gpu) does by itself
 * when a CUDA device is present; `cpu` only after `enableCuda({backend: 'cpu'})` (that is how a machine
 * without TensorFlow runs the CUDA kernels through tfjs). Both can be switched either way.
 */
import {HOST_BACKENDS} from '../host_io';
import {getCudaStatus} from './addon';
import type {CudaStatus} from './status';

const explicit = new Map<string, boolean>();

export interface CudaRouteOptions {
  /** The host backend: 'cpu' or 'tensorflow'. enableCuda needs it; disableCuda without it disables both. */
  backend?: string;
}

function checkBackend(op: string, backend: unknown): string {
  if (typeof backend !== 'string' || !(HOST_BACKENDS as readonly string[]).includes(backend)) {
    throw new Error(`${op}: backend must be one of ${HOST_BACKENDS.join(', ')} (the backends whose tensors live in ` +
                    `host memory), got ${JSON.stringify(backend)}`);
  }
  return backend;
}

/**
 * Routes the NA kernels of a host backend (`cpu` or `tensorflow`) to the CUDA kernels. Throws, saying why,
 * when CUDA is unavailable (no addon for this platform, no NVIDIA driver, no device).
 *
 * ```js
 * enableCuda({backend: 'cpu'});
 * const out = na2d(q, k, v, {kernelSize: 7});   // runs on the GPU, inputs and outputs on the host
 * ```
 */
export function enableCuda(options: CudaRouteOptions): void {
  const backend = checkBackend('enableCuda', options?.backend);
  const status = getCudaStatus();
  if (!status.available) {
    throw new Error(`enableCuda: CUDA is unavailable: ${status.reason}`);
  }
  explicit.set(backend, true);
}

/** Sends a host backend's NA kernels (both when no backend is given) back to the CPU kernels. */
export function disableCuda(options: CudaRouteOptions = {}): void {
  const backends = options.backend === undefined ? [...HOST_BACKENDS] : [checkBackend('disableCuda', options.backend)];
  backends.forEach(b => explicit.set(b, false));
}

/** Whether CUDA can run NA here and, when not, why; with the device's name and compute capability. */
export function cudaStatus(): CudaStatus {
  return getCudaStatus();
}

/** Whether this call of a host backend's NA kernel goes to CUDA. */
export function cudaRoutedFor(backendName: string): boolean {
  const e = explicit.get(backendName);
  if (e !== undefined) {
    return e;
  }
  return backendName === 'tensorflow' && getCudaStatus().available;
}
