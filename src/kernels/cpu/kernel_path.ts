/** Which implementation the fused CPU kernels actually use here, for users and tests to check. */
import {CpuKernelPath, getCpuKernelPath} from '../../flags';
import {getRowKernels} from './na_codegen';
import {nattenCpu} from './na_native';
import {getNAWasmModule} from './na_wasm';

/**
 * The implementation the fused CPU kernels use here for these head dims: the flags' choice (flags.ts),
 * stepped down where it is unavailable (no natten_cpu addon, no WebAssembly SIMD, synchronous compilation
 * refused, head dims above 128, code generation forbidden by a Content-Security-Policy). Compiles (or loads)
 * what it checks, once.
 */
export function cpuKernelPath(headDim: number, headDimV = headDim): CpuKernelPath {
  const wanted = getCpuKernelPath();
  if (wanted === 'native' && nattenCpu() != null) {
    return 'native';
  }
  if ((wanted === 'native' || wanted === 'wasm') && getNAWasmModule(headDim, headDimV) != null) {
    return 'wasm';
  }
  return wanted !== 'generic' && getRowKernels(headDim, headDimV) != null ? 'codegen' : 'generic';
}
