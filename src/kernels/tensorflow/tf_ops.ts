/**
 * The natten_tf addon: NA as TensorFlow ops (native/src/tf), registered in the TensorFlow that tfjs-node
 * (or tfjs-node-gpu) loaded. It must not be loaded without TensorFlow in the process (it links
 * libtensorflow_framework.so.2 without an rpath, so it resolves only against the copy tfjs-node loaded), so
 * it is loaded lazily: by the first NA kernel run on a real tfjs-node `tensorflow` backend, never at import.
 */
import type {Tensor, TensorInfo} from '@tensorflow/tfjs-core';
import {AddonLoad, loadAddon} from '../../native/addon_loader';

export const NATTEN_TF_ADDON = 'natten_tf';

/** What natten_tf exports (native/src/tf/addon.cc); loading it registers the ops. */
export interface NattenTfAddon {
  /** The op names registered (the tfjs kernel names). */
  ops: string[];
  /** Whether it was built with the GPU kernels (-Dnatten_tf_gpu=1). */
  gpuCompiled: boolean;
  /** Whether the GPU kernels were registered (built with them and NATTEN_TF_GPU=1 when it loaded). */
  gpuKernels: boolean;
}

/** A tfjs-node op attribute, as its binding takes them (`nodejs_kernel_backend`'s TFEOpAttr). */
export interface TfOpAttr {
  name: string;
  type: number;
  value: number | boolean | number[] | boolean[];
}

/** The part of tfjs-node's NodeJSKernelBackend that runs TensorFlow ops. */
export interface TfjsNodeBackend {
  binding: {TF_ATTR_INT: number, TF_ATTR_FLOAT: number, TF_ATTR_BOOL: number};
  executeMultipleOutputs(name: string, opAttrs: TfOpAttr[], inputs: TensorInfo[], numOutputs: number): Tensor[];
}

/** True for tfjs-node's backend (it runs TensorFlow ops); false for any other registered as `tensorflow`. */
export function isTfjsNodeBackend(backend: unknown): backend is TfjsNodeBackend {
  const b = backend as Partial<TfjsNodeBackend> | null;
  return b != null && typeof b.executeMultipleOutputs === 'function' && b.binding != null &&
      typeof b.binding.TF_ATTR_INT === 'number';
}

const NOT_YET = 'not loaded yet: natten_tf loads with the first NA kernel run on the tensorflow backend ' +
    '(@tensorflow/tfjs-node or tfjs-node-gpu)';

let loaded: AddonLoad<NattenTfAddon> | null = null;
let skipped: string | null = null;

/** Says why natten_tf did not load, in terms of what to do. */
function explain(reason: string): string {
  if (/libtensorflow_framework/.test(reason)) {
    return `natten_tf needs TensorFlow (libtensorflow_framework.so.2) already loaded in this process by ` +
        `@tensorflow/tfjs-node or tfjs-node-gpu, and none was: ${reason}`;
  }
  return reason;
}

/**
 * natten_tf, loaded on the first call with tfjs-node's backend (null when unavailable: see tfOpsStatus).
 * With any other backend it loads nothing and returns null.
 */
export function loadTfOps(backend: unknown): NattenTfAddon | null {
  if (loaded != null) {
    return loaded.addon;
  }
  if (!isTfjsNodeBackend(backend)) {
    skipped = 'the tensorflow backend is not tfjs-node\'s (it has no executeMultipleOutputs / binding), so NA ' +
        'runs there through the host kernels';
    return null;
  }
  const r = loadAddon<NattenTfAddon>(NATTEN_TF_ADDON);
  loaded = r.addon != null ? r : {addon: null, path: r.path, reason: explain(r.reason ?? 'unknown')};
  return loaded.addon;
}

/** Whether natten_tf is loaded, from where, or why not (or that it has not been tried yet). */
export function tfOpsStatus(): AddonLoad<NattenTfAddon> {
  return loaded ?? {addon: null, path: null, reason: skipped ?? NOT_YET};
}
