/** Everything tfjs-natten exports, without side effects (see index.ts for registration). */
export {na1d, na2d, na3d, na1dQK, na2dQK, na3dQK, na1dAV, na2dAV, na3dAV} from './ops/na';
export type {FusedNAOp} from './ops/na';
export type {NAOptions, NAQKOptions, NAAVOptions, NAWindowOptions} from './ops/options';
export {NATTEN_COMPOSED_MAX_BYTES, NATTEN_CPU_CODEGEN, NATTEN_CPU_KEEP_WEIGHTS, NATTEN_CPU_NATIVE, NATTEN_CPU_WASM,
        NATTEN_FORCE_COMPOSED, NATTEN_TF_OPS, NATTEN_WEBGPU_FUSED, NATTEN_WEBGPU_TILE} from './flags';
export type {CpuKernelPath} from './flags';
export {cpuKernelPath} from './kernels/cpu/kernel_path';
export {nativeStatus} from './native/status';
export type {AddonStatus, NativeStatus} from './native/status';
export * as kernelNames from './kernels/kernel_names';
export * as core from './core/index';
export {layers, NeighborhoodAttention1D, NeighborhoodAttention2D, NeighborhoodAttention3D, neighborhoodAttention1d,
        neighborhoodAttention2d, neighborhoodAttention3d, NeighborhoodAttentionGeneric} from './layers/index';
export type {NeighborhoodAttentionArgs} from './layers/index';
export {nodeFileSystem} from './io/node_fs';
export {cudaStatus, disableCuda, enableCuda} from './kernels/cuda/enable';
export type {CudaRouteOptions} from './kernels/cuda/enable';
export type {CudaStatus, CudaDeviceStatus} from './kernels/cuda/status';
