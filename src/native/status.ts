/**
 * Which native addons tfjs-natten is using, and why not when it is not: the natten_cpu kernels (the `cpu`
 * backend in Node, and the `tensorflow` backend's fallback) and the natten_tf TensorFlow ops (the
 * `tensorflow` backend). Reports only what has been tried: natten_tf is loaded lazily, by the first NA
 * kernel run on the `tensorflow` backend.
 */
import {env} from '@tensorflow/tfjs-core';
import {NATTEN_CPU_NATIVE, NATTEN_TF_OPS, registerFlags} from '../flags';
import {nativeCpuStatus} from '../kernels/cpu/na_native';
import {tfOpsStatus} from '../kernels/tensorflow/tf_ops';

export interface AddonStatus {
  /** Whether the addon is loaded. */
  loaded: boolean;
  /** Whether its flag lets the kernels use it (NATTEN_CPU_NATIVE, NATTEN_TF_OPS). */
  enabled: boolean;
  /** The .node file loaded, or null. */
  path: string | null;
  /** Why the addon is not in use (null when it is): the flag, or why it did not load. */
  reason: string | null;
}

export interface NativeStatus {
  /** natten_cpu: the native CPU kernels (threads, AVX2). */
  cpu: AddonStatus;
  /** natten_tf: NA as TensorFlow ops under tfjs-node; loaded by the first NA kernel run there. */
  tensorflow: AddonStatus;
}

function status(load: {addon: unknown, path: string | null, reason: string | null}, flag: string): AddonStatus {
  registerFlags();
  const enabled = env().getBool(flag);
  return {
    loaded: load.addon != null, enabled, path: load.path,
    reason: !enabled ? `turned off by the flag ${flag} (tf.env().set('${flag}', true) turns it on)` : load.reason,
  };
}

export function nativeStatus(): NativeStatus {
  return {cpu: status(nativeCpuStatus(), NATTEN_CPU_NATIVE), tensorflow: status(tfOpsStatus(), NATTEN_TF_OPS)};
}
