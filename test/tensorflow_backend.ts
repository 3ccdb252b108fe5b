/**
 * The real `tensorflow` backend for the tests: @tensorflow/tfjs-node-gpu, installed and built against the
 * tensorflow-cpu wheel by `npm run setup:tfjs-node` (scripts/setup-tfjs-node.js).
 *
 * Loaded once per test file (jest gives each file a fresh module registry, so tfjs and tfjs-node-gpu's
 * JavaScript load again and register the backend with that file's engine). The native binding is a `.node`
 * file, which jest loads with Node's own `require`: Node caches it per process, so TensorFlow itself is
 * loaded and initialized once per jest worker and every file's backend shares it.
 *
 * Loading never throws; `requireTensorflowBackend()` throws the reason (saying to run the set-up) where a
 * suite needs the backend, so a missing set-up fails those tests and never skips them.
 */
import * as tf from '@tensorflow/tfjs';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const tfjsNodeEnv: {TF_VERSION: string, TFJS_NODE_PACKAGE: string, loadTfjsNode(name: string): unknown} =
    require('../scripts/tfjs-node-env');

export interface TensorflowBackendStatus {
  /** TensorFlow's version as the binding reports it, when the backend loaded. */
  tensorflowVersion: string | null;
  /** Why the backend is unavailable (null when it loaded). */
  reason: string | null;
}

let status: TensorflowBackendStatus | null = null;

/**
 * Loads `packageName` (tfjs-node-gpu) once in this module registry, registering the `tensorflow` backend, and
 * leaves `cpu` the active backend (tfjs-node makes itself the default when it loads).
 */
export function loadTensorflowBackend(packageName = tfjsNodeEnv.TFJS_NODE_PACKAGE): TensorflowBackendStatus {
  if (status != null && packageName === tfjsNodeEnv.TFJS_NODE_PACKAGE) {
    return status;
  }
  const previous = tf.getBackend() ?? 'cpu';  // undefined until a backend is set
  let result: TensorflowBackendStatus;
  try {
    tfjsNodeEnv.loadTfjsNode(packageName);
    // Found through this file's engine: a package that loaded another @tensorflow/tfjs-core copy registers nothing here.
    const binding = (tf.findBackend('tensorflow') as unknown as {binding?: {TF_Version?: string}} | null)?.binding;
    if (binding?.TF_Version == null) {
      throw new Error(`the real tensorflow backend is not set up: ${packageName} registered no native tensorflow ` +
                      'backend with this tfjs (two @tensorflow/tfjs-core copies?)');
    }
    result = {tensorflowVersion: binding.TF_Version, reason: null};
  } catch (e) {
    result = {tensorflowVersion: null, reason: (e as Error).message};
  }
  if (tf.findBackend(previous) != null) {
    tf.setBackend(previous);  // synchronous for the host backends
  }
  if (packageName === tfjsNodeEnv.TFJS_NODE_PACKAGE) {
    status = result;
  }
  return result;
}

/** Throws, saying to run the set-up, unless the real tensorflow backend loaded. */
export function requireTensorflowBackend(): void {
  const s = loadTensorflowBackend();
  if (s.reason != null) {
    throw new Error(s.reason);
  }
}

export const EXPECTED_TENSORFLOW_VERSION = tfjsNodeEnv.TF_VERSION;

/**
 * Runs `fn` with the IS_TEST leak check off while the active backend is `tensorflow` (elsewhere unchanged).
 * There, tfjs's own fused matMul (every Dense layer) trips that check under a gradient tape: the op keeps its
 * kernel's output for the gradient and returns a reshape of it, and tfjs-node's Reshape makes a new data id,
 * which the check counts as one leaked id per call. No tensor leaks (`tf.memory().numTensors` is unchanged),
 * and the kernel is not ours: callers that train Dense layers on `tensorflow` check numTensors instead.
 */
export async function withoutIsTestOnTensorflow<T>(fn: () => Promise<T>): Promise<T> {
  const off = tf.getBackend() === 'tensorflow' && tf.env().getBool('IS_TEST');
  if (off) {
    tf.env().set('IS_TEST', false);
  }
  try {
    return await fn();
  } finally {
    if (off) {
      tf.env().set('IS_TEST', true);
    }
  }
}
