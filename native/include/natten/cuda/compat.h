// The device primitives the kernels use, in one place: CUDA's own (inline PTX for the tensor-core MMA, the
// TF32 conversion and cp.async), or, when NATTEN_EMULATION is defined, the host emulator of
// native/test/emu/natten_emu.h, which runs the same kernel source on the CPU (one fiber per CUDA thread) so
// that tests without a GPU can check the kernels' logic.
#pragma once

#include <cstdint>

#if defined(NATTEN_EMULATION)

#include <cstring>

#include "natten_emu.h"

#define NATTEN_DEVICE inline
#define NATTEN_LAUNCH(kernel, grid, block, smem, stream, ...)                   \
  do {                                                                          \
    (void)(stream);                                                             \
    ::natten_emu::launch((grid), (block), (smem), [&]() { kernel(__VA_ARGS__); }); \
  } while (0)

namespace natten {
namespace dev {
using ::natten_emu::cp_async_16;
using ::natten_emu::cp_async_4;
using ::natten_emu::cp_async_commit;
using ::natten_emu::cp_async_wait;
using ::natten_emu::dynamic_smem;
using ::natten_emu::fast_exp2;
using ::natten_emu::float_bits;
using ::natten_emu::bits_float;
using ::natten_emu::mma_tf32;
using ::natten_emu::shfl_xor;
using ::natten_emu::any_sync;
using ::natten_emu::to_tf32;
inline bool sm80_or_newer() { return true; }
inline void compiler_fence() {}
// 16-byte shared-memory accesses (16-byte aligned addresses).
inline void load4(const float* p, float (&v)[4]) { std::memcpy(v, p, sizeof(v)); }
inline void store4(float* p, const float (&v)[4]) { std::memcpy(p, v, sizeof(v)); }
}  // namespace dev
}  // namespace natten

#else  // CUDA

#include <cuda_runtime.h>

#define NATTEN_DEVICE __device__ __forceinline__
#define NATTEN_LAUNCH(kernel, grid, block, smem, stream, ...) kernel<<<(grid), (block), (smem), (stream)>>>(__VA_ARGS__)

// The fast kernels need sm_80 (TF32 MMA, cp.async). When the addon is compiled for an older target as well,
// their device code there is a trap that the host side never reaches: it sends those devices to the
// reference kernels.
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
#define NATTEN_SM80 1
#else
#define NATTEN_SM80 0
#endif

// The primitives exist only in device compilation (nvcc); host-only files (the Node glue) see the runtime API.
#if defined(__CUDACC__)
namespace natten {
namespace dev {

NATTEN_DEVICE uint32_t float_bits(float x) { return __float_as_uint(x); }
NATTEN_DEVICE float bits_float(uint32_t x) { return __uint_as_float(x); }

// Round to TF32 (10 mantissa bits), to nearest with ties away from zero; the low 13 bits become zero.
NATTEN_DEVICE uint32_t to_tf32(float x) {
#if NATTEN_SM80
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
  return r;
#else
  __trap();
  return 0;
#endif
}

// d += a * b for one m16n8k8 TF32 MMA (fragment layouts in natten/cuda/mma.h).
NATTEN_DEVICE void mma_tf32(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if NATTEN_SM80
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
  __trap();
#endif
}

// Asynchronous copies global -> shared: 16 bytes (both addresses 16-byte aligned) or 4 bytes; the bytes past
// src_bytes (0 allowed: nothing is read) are filled with zeros.
NATTEN_DEVICE void cp_async_16(void* smem, const void* gmem, int src_bytes) {
#if NATTEN_SM80
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(src_bytes));
#else
  __trap();
#endif
}

NATTEN_DEVICE void cp_async_4(void* smem, const void* gmem, int src_bytes) {
#if NATTEN_SM80
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(s), "l"(gmem), "r"(src_bytes));
#else
  __trap();
#endif
}

NATTEN_DEVICE void cp_async_commit() {
#if NATTEN_SM80
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}

// Waits until at most n of this thread's committed copy groups are still in flight.
template <int n>
NATTEN_DEVICE void cp_async_wait() {
#if NATTEN_SM80
  asm volatile("cp.async.wait_group %0;\n" ::"n"(n));
#endif
}

// 2^x with the special-function unit (relative error about 2^-22; exp2(-inf) = 0).
NATTEN_DEVICE float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

// Keeps the compiler from moving memory accesses across this point (no instruction): bounds how far ahead it
// hoists loads, and so how many registers they hold.
NATTEN_DEVICE void compiler_fence() { asm volatile("" ::: "memory"); }

// 16-byte accesses (16-byte aligned addresses): one LDS.128 / STS.128 (or global) instruction.
NATTEN_DEVICE void load4(const float* p, float (&v)[4]) {
  const float4 x = *reinterpret_cast<const float4*>(p);
  v[0] = x.x;
  v[1] = x.y;
  v[2] = x.z;
  v[3] = x.w;
}

NATTEN_DEVICE void store4(float* p, const float (&v)[4]) {
  *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
}

NATTEN_DEVICE float shfl_xor(float v, int mask) { return __shfl_xor_sync(0xffffffffu, v, mask); }

// Whether p holds in any lane of the (full, converged) warp.
NATTEN_DEVICE bool any_sync(bool p) { return __any_sync(0xffffffffu, p) != 0; }

// The dynamic shared memory of the block (16-byte aligned).
template <class T>
NATTEN_DEVICE T* dynamic_smem() {
  extern __shared__ __align__(16) unsigned char natten_dynamic_smem[];
  return reinterpret_cast<T*>(natten_dynamic_smem);
}

}  // namespace dev
}  // namespace natten
#endif  // __CUDACC__

#endif  // NATTEN_EMULATION
