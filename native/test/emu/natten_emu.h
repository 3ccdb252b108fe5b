// A host emulator of the CUDA features the kernels use, for tests without a GPU: each thread block runs as
// one cooperative fiber per CUDA thread (ucontext), with __syncthreads, warp shuffles and the m16n8k8 TF32
// MMA as warp collectives (the MMA follows the PTX ISA's fragment layouts and TF32 operand rounding),
// cp.async as copies deferred until the matching wait_group, and dynamic shared memory allocated per block
// at its exact size and filled with NaN bytes. Threads are scheduled in a seeded random order at every
// switch, so reads that lack a barrier or a wait see stale data. Any misuse (divergent collectives, a
// deadlock, a misaligned async copy) aborts with a message.
//
// Compiled only into host tests, with -DNATTEN_EMULATION (natten/cuda/compat.h selects it).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>

namespace natten_emu {

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

const dim3& thread_idx();
const dim3& block_idx();
const dim3& block_dim();
const dim3& grid_dim();

void syncthreads();
float shfl_xor(float v, int mask);
bool any_sync(bool p);  // __any_sync over the full warp
void mma_tf32(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]);
// Hopper's wgmma.mma_async m64nNk8 TF32 (natten/cuda/compat.h), as a collective of the 128 threads of a warpgroup,
// run at once (the emulator has no asynchrony: a read of the operands' shared memory after the issue and before
// the wait is not caught). d: this thread's N / 2 accumulators; A from shared memory through desc_a, or from
// a_regs (the m16n8k8 fragment order per warp) when a_regs is not null; B from shared memory through desc_b.
void wgmma_tf32(float* d, int n, uint64_t desc_a, const uint32_t* a_regs, uint64_t desc_b);
// A no-swizzle shared-memory matrix descriptor: start address, leading byte offset (between core matrices along
// K) and stride byte offset (along M or N), as the hardware reads them (bench/probes/wgmma_probe.cu).
uint64_t smem_desc(const void* smem, uint32_t lbo, uint32_t sbo);
void cp_async_16(void* smem, const void* gmem, int src_bytes);
void cp_async_4(void* smem, const void* gmem, int src_bytes);
void cp_async_commit();
void cp_async_wait_n(int n);
template <int n>
inline void cp_async_wait() {
  cp_async_wait_n(n);
}
void* dynamic_smem_raw();
template <class T>
inline T* dynamic_smem() {
  return static_cast<T*>(dynamic_smem_raw());
}

inline uint32_t float_bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}
inline float bits_float(uint32_t u) {
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

// cvt.rna.tf32.f32: round to 10 mantissa bits, to nearest, ties away from zero.
inline uint32_t to_tf32(float x) {
  const uint32_t u = float_bits(x);
  if ((u & 0x7f800000u) == 0x7f800000u) {
    return u;  // Inf and NaN pass through
  }
  return (u + 0x1000u) & 0xffffe000u;
}

inline float fast_exp2(float x) { return std::exp2(x); }

// Runs `body` (the kernel call) once per thread of every block of the grid, blocks one after the other.
void launch(dim3 grid, dim3 block, size_t smem_bytes, const std::function<void()>& body);

// Number of blocks and of MMAs run since the last reset (for tests that check what ran).
struct Counters {
  long long blocks = 0;
  long long mmas = 0;
};
Counters& counters();

}  // namespace natten_emu

using natten_emu::dim3;

#define __global__
#define __device__
#define __host__
#define __forceinline__
#define __launch_bounds__(...)
#define __syncthreads() ::natten_emu::syncthreads()
#define threadIdx (::natten_emu::thread_idx())
#define blockIdx (::natten_emu::block_idx())
#define blockDim (::natten_emu::block_dim())
#define gridDim (::natten_emu::grid_dim())
#define NATTEN_SM80 1

// Fibers never run at the same time, so a plain add is atomic.
inline float atomicAdd(float* p, float v) {
  const float old = *p;
  *p = old + v;
  return old;
}

template <class T>
inline T __ldg(const T* p) {
  return *p;
}

// The few CUDA runtime calls the launch code makes, on host memory.
typedef int cudaError_t;
enum : int {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorLaunchFailure = 719,
};
typedef struct natten_emu_stream* cudaStream_t;
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
enum cudaDeviceAttr {
  cudaDevAttrComputeCapabilityMajor = 75,
  cudaDevAttrComputeCapabilityMinor = 76,
  cudaDevAttrMaxSharedMemoryPerBlockOptin = 97,
  cudaDevAttrMultiProcessorCount = 16,
};
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
enum cudaMemcpyKind { cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2, cudaMemcpyDeviceToDevice = 3 };
constexpr unsigned cudaStreamNonBlocking = 1;
typedef struct natten_emu_event* cudaEvent_t;
struct cudaDeviceProp {
  char name[256];
  int major;
  int minor;
  size_t totalGlobalMem;
  int multiProcessorCount;
};
cudaError_t cudaMalloc(void** p, size_t bytes);
cudaError_t cudaFree(void* p);
inline cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, cudaMemcpyKind, cudaStream_t) {
  std::memcpy(dst, src, n);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpy(void* dst, const void* src, size_t n, cudaMemcpyKind) {
  std::memcpy(dst, src, n);
  return cudaSuccess;
}
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) {
  *s = reinterpret_cast<cudaStream_t>(1);
  return cudaSuccess;
}
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
cudaError_t cudaEventCreate(cudaEvent_t* e);
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t from, cudaEvent_t to);
inline cudaError_t cudaDriverGetVersion(int* v) {
  *v = 13000;
  return cudaSuccess;
}
inline cudaError_t cudaRuntimeGetVersion(int* v) {
  *v = 13000;
  return cudaSuccess;
}
inline cudaError_t cudaGetDeviceCount(int* n) {
  *n = 1;
  return cudaSuccess;
}
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int) {
  std::memset(p, 0, sizeof(*p));
  std::strcpy(p->name, "natten host emulator");
  p->major = 9;
  p->minor = 0;
  p->totalGlobalMem = size_t(1) << 34;
  p->multiProcessorCount = 132;
  return cudaSuccess;
}
inline cudaError_t cudaPeekAtLastError() { return cudaSuccess; }
inline const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    default: return "unknown error";
  }
}
inline const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    default: return "cudaErrorUnknown";
  }
}
inline cudaError_t cudaMemsetAsync(void* p, int v, size_t n, cudaStream_t) {
  std::memset(p, v, n);
  return cudaSuccess;
}
template <class F>
inline cudaError_t cudaFuncSetAttribute(F, cudaFuncAttribute, int) {
  return cudaSuccess;
}
inline cudaError_t cudaGetDevice(int* d) {
  *d = 0;
  return cudaSuccess;
}
inline cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr a, int) {
  switch (a) {
    case cudaDevAttrComputeCapabilityMajor: *v = 9; break;
    case cudaDevAttrComputeCapabilityMinor: *v = 0; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *v = 227 * 1024; break;
    case cudaDevAttrMultiProcessorCount: *v = 132; break;
  }
  return cudaSuccess;
}
