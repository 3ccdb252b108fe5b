/**
 * Which native addons tfjs-natten is using, and why not when it is not: the natten_cpu kernels (the `cpu`
 * backend in Node, and the `tensorflow` backend's fallback) and the natten_tf TensorFlow ops (the
 * `tensorflow` backend). Reports only what has been tried: natten_tf is loaded lazily, by the first NA
 * kernel run on the `tensorflow` backend.
 */
import {nativeCpuStatus} from '../kernels/cpu/na_native';

export interface AddonStatus {
  /** Whether the addon is loaded and in use. */
  loaded: boolean;
  /** The .node file loaded, or null. */
  path: string | null;
  /** Why the addon is not in use (null when it is). */
  reason: string | null;
}

export interface NativeStatus {
  /** natten_cpu: the native CPU kernels (threads, AVX2). */
  cpu: AddonStatus;
}

export function nativeStatus(): NativeStatus {
  const cpu = nativeCpuStatus();
  return {
    cpu: {loaded: cpu.addon != null, path: cpu.path, reason: cpu.reason},
  };
}
