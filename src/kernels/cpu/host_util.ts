/** The host-memory glue of the CPU kernels (shared with the CUDA kernels of the same backends). */
export {avInfo, HOST_BACKENDS, qkvInfo, readF32, writeF32} from '../host_io';
