/**
 * What the host kernels' data transfers cost inside the fused time on a host backend (cpu, tensorflow): the
 * time spent in `backend.readSync` (the kernels' inputs) and `backend.write` (their outputs) while an NA kernel
 * runs, measured by wrapping those two methods of the backend and the backend's NA kernels for the duration
 * of a few calls (the timed runs are not wrapped).
 *
 * On tfjs-node (`tensorflow`), `readSync` of a tensor that TensorFlow computed copies its data out of
 * TensorFlow, and `write` only keeps the array: TensorFlow copies it in (`binding.createTensor`) when one of
 * its ops first reads the tensor. That later copy is outside the fused time; `uploadMs` measures it for the
 * forward's outputs. On `cpu` both are reference hand-overs.
 */
import * as tf from '@tensorflow/tfjs';

export interface HostCopies {
  /** Per call of the measured function: ms in readSync and write inside NA kernels, and the bytes moved. */
  readMs: number;
  writeMs: number;
  readBytes: number;
  writeBytes: number;
}

type Backend = tf.KernelBackend & {binding?: Record<string, unknown>};

function byteSize(values: unknown): number {
  return (values as {byteLength?: number}).byteLength ?? 0;
}

/** Calls `fn` `reps` times with the NA kernels' readSync/write timed; returns the average per call. */
export async function measureHostCopies(fn: () => tf.Tensor | tf.Tensor[], reps: number): Promise<HostCopies> {
  const backend = tf.backend() as Backend;
  const name = tf.getBackend();
  const total: HostCopies = {readMs: 0, writeMs: 0, readBytes: 0, writeBytes: 0};
  let inKernel = 0;
  const configs = tf.getKernelsForBackend(name).filter(k => k.kernelName.startsWith('Natten'));
  for (const config of configs) {
    tf.unregisterKernel(config.kernelName, name);
    tf.registerKernel({...config, kernelFunc: args => {
      inKernel++;
      try {
        return config.kernelFunc(args);
      } finally {
        inKernel--;
      }
    }});
  }
  const own = Object.prototype.hasOwnProperty;
  const hadRead = own.call(backend, 'readSync'), hadWrite = own.call(backend, 'write');
  const readSync = backend.readSync, write = backend.write;
  backend.readSync = function(dataId) {
    const t0 = performance.now();
    const values = readSync.call(this, dataId);
    if (inKernel > 0) {
      total.readMs += performance.now() - t0;
      total.readBytes += byteSize(values);
    }
    return values;
  };
  backend.write = function(values, shape, dtype) {
    const t0 = performance.now();
    const id = write.call(this, values, shape, dtype);
    if (inKernel > 0) {
      total.writeMs += performance.now() - t0;
      total.writeBytes += byteSize(values);
    }
    return id;
  };
  try {
    for (let i = 0; i < reps; i++) {
      const out = fn();
      await Promise.all((Array.isArray(out) ? out : [out]).map(x => x.data()));
      tf.dispose(out);
    }
  } finally {
    restore(backend, 'readSync', hadRead, readSync);
    restore(backend, 'write', hadWrite, write);
    for (const config of configs) {
      tf.unregisterKernel(config.kernelName, name);
      tf.registerKernel(config);
    }
  }
  return {readMs: total.readMs / reps, writeMs: total.writeMs / reps, readBytes: total.readBytes / reps,
          writeBytes: total.writeBytes / reps};
}

function restore(backend: Backend, key: 'readSync' | 'write', hadOwn: boolean, original: unknown): void {
  if (hadOwn) {
    (backend as unknown as Record<string, unknown>)[key] = original;
  } else {
    delete (backend as unknown as Record<string, unknown>)[key];
  }
}

/**
 * tfjs-node only: ms TensorFlow takes to copy in the fused forward's outputs (output and logsumexp) when a
 * TensorFlow op first reads them (`binding.createTensor`, timed), averaged over `reps`; null elsewhere.
 */
export async function measureUpload(forward: () => tf.Tensor[], reps: number): Promise<number | null> {
  const backend = tf.backend() as Backend;
  const binding = backend.binding;
  if (binding == null || typeof binding.createTensor !== 'function') {
    return null;
  }
  const createTensor = binding.createTensor as (...args: unknown[]) => unknown;
  let ms = 0;
  // The binding's exports are read-only: a stand-in inherits them and shadows createTensor.
  backend.binding = Object.create(binding, {createTensor: {value: (...args: unknown[]) => {
    const t0 = performance.now();
    const id = createTensor.apply(binding, args);
    ms += performance.now() - t0;
    return id;
  }}});
  try {
    for (let i = 0; i < reps; i++) {
      const outs = forward();
      tf.dispose(tf.tidy(() => outs.map(t => tf.neg(t))));  // a TensorFlow op reads each output once
      tf.dispose(outs);
    }
  } finally {
    backend.binding = binding;
  }
  return ms / reps;
}
