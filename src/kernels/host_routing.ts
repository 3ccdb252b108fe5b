/**
 * The one place that chooses between the two implementations of the host backends' NA kernels. The `cpu`
 * and `tensorflow` backends keep their tensors in host memory, and tfjs-natten has two sets of kernels for
 * them: the CPU kernels (kernels/cpu) and the CUDA kernels (kernels/cuda), which copy the data to the GPU
 * and back. Neither imports the other. `routeHostKernels` replaces each host kernel's registration with one
 * that asks `routed(backendName)` on every call and runs the CUDA kernel or the kernel it replaced.
 */
import {getKernel, KernelFunc, registerKernel, unregisterKernel} from '@tensorflow/tfjs-core';
import {HOST_BACKENDS} from './host_io';

export function routeHostKernels(alternatives: Record<string, KernelFunc>, routed: (backendName: string) => boolean):
    void {
  for (const backendName of HOST_BACKENDS) {
    for (const [kernelName, alternative] of Object.entries(alternatives)) {
      const host = getKernel(kernelName, backendName);
      if (host == null) {
        throw new Error(`tfjs-natten: the ${kernelName} kernel of the ${backendName} backend must be registered ` +
                        'before it is routed (kernels/cpu/register_all first)');
      }
      unregisterKernel(kernelName, backendName);
      registerKernel({
        ...host,
        kernelFunc: args => (routed(backendName) ? alternative : host.kernelFunc)(args),
      });
    }
  }
}
