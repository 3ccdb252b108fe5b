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
inline int warp_uniform(int v) { return v; }
// wgmma (sm_90a): synchronous in the emulator, so the fences, commits and waits have nothing to do.
using ::natten_emu::smem_desc;
inline void wgmma_fence() {}
inline void fence_operand(uint32_t&) {}
inline void wgmma_commit() {}
inline void wgmma_wait0() {}
inline void fence_proxy_async() {}
template <int N>
inline void wgmma_ss(float (&d)[N / 2], uint64_t desc_a, uint64_t desc_b) {
  ::natten_emu::wgmma_tf32(d, N, desc_a, nullptr, desc_b);
}
template <int N>
inline void wgmma_rs(float (&d)[N / 2], const uint32_t (&a)[4], uint64_t desc_b) {
  ::natten_emu::wgmma_tf32(d, N, 0, a, desc_b);
}
// 16-byte shared-memory accesses (16-byte aligned addresses).
inline void load4(const float* p, float (&v)[4]) { std::memcpy(v, p, sizeof(v)); }
inline void store4(float* p, const float (&v)[4]) { std::memcpy(p, v, sizeof(v)); }
inline void store2(float* p, float x, float y) {
  const float v[2] = {x, y};
  std::memcpy(p, v, sizeof(v));
}
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

// Hopper's warpgroup MMA (wgmma.mma_async, m64nNk8, TF32 in, float32 accumulators; sm_90a only: elsewhere a
// trap that the dispatcher never reaches, see launch.cu's wgmma_runs). B, and A unless given in registers (the
// m16n8k8 fragment order per warp), come from shared memory through no-swizzle descriptors (smem_desc): K-major
// operands in core matrices of 8 rows x 16 bytes, `lbo` bytes apart along K and `sbo` apart along M or N
// (bench/probes/wgmma_probe.cu checked that reading on the H200). Accumulators: per warp w of the warpgroup, rows
// 16 w + g and + 8, d[4 j + {0..3}] as mma.m16n8k8's C fragment for columns [8 j, 8 j + 8).
#if defined(__CUDA_ARCH_FEAT_SM90_ALL) || (defined(__CUDA_ARCH_SPECIFIC__) && __CUDA_ARCH_SPECIFIC__ == 900)
#define NATTEN_WGMMA 1
#else
#define NATTEN_WGMMA 0
#endif

NATTEN_DEVICE uint64_t smem_desc(const void* smem, uint32_t lbo, uint32_t sbo) {
  const uint32_t a = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  return static_cast<uint64_t>((a >> 4) & 0x3fff) | (static_cast<uint64_t>((lbo >> 4) & 0x3fff) << 16) |
         (static_cast<uint64_t>((sbo >> 4) & 0x3fff) << 32);
}

NATTEN_DEVICE void wgmma_fence() {
#if NATTEN_WGMMA
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#endif
}
// Pins a register operand's value before wgmma_fence (an empty asm that reads and writes it), so that the compiler
// neither sinks its computation past the fence nor makes ptxas inject an arrive of its own (C7519).
NATTEN_DEVICE void fence_operand(uint32_t& x) { asm volatile("" : "+r"(x)::"memory"); }
NATTEN_DEVICE void wgmma_commit() {
#if NATTEN_WGMMA
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
#endif
}
NATTEN_DEVICE void wgmma_wait0() {
#if NATTEN_WGMMA
  asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
#endif
}
// Makes this thread's shared-memory writes (generic proxy: stores, cp.async) visible to wgmma's reads.
NATTEN_DEVICE void fence_proxy_async() {
#if NATTEN_WGMMA
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#endif
}

template <int N>
NATTEN_DEVICE void wgmma_ss(float (&d)[N / 2], uint64_t desc_a, uint64_t desc_b);
template <int N>
NATTEN_DEVICE void wgmma_rs(float (&d)[N / 2], const uint32_t (&a)[4], uint64_t desc_b);

#define NATTEN_WG_D16 "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), \
    "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15])
#define NATTEN_WG_D32 NATTEN_WG_D16, "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), \
    "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), \
    "+f"(d[31])
#define NATTEN_WG_R16 "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15}"
#define NATTEN_WG_R32 "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24," \
    "%25,%26,%27,%28,%29,%30,%31}"

template <>
NATTEN_DEVICE void wgmma_ss<32>(float (&d)[16], uint64_t desc_a, uint64_t desc_b) {
#if NATTEN_WGMMA
  asm volatile("wgmma.mma_async.sync.aligned.m64n32k8.f32.tf32.tf32 " NATTEN_WG_R16 ", %16, %17, 1, 1, 1;\n"
               : NATTEN_WG_D16 : "l"(desc_a), "l"(desc_b));
#else
  __trap();
#endif
}
template <>
NATTEN_DEVICE void wgmma_ss<64>(float (&d)[32], uint64_t desc_a, uint64_t desc_b) {
#if NATTEN_WGMMA
  asm volatile("wgmma.mma_async.sync.aligned.m64n64k8.f32.tf32.tf32 " NATTEN_WG_R32 ", %32, %33, 1, 1, 1;\n"
               : NATTEN_WG_D32 : "l"(desc_a), "l"(desc_b));
#else
  __trap();
#endif
}
template <>
NATTEN_DEVICE void wgmma_rs<32>(float (&d)[16], const uint32_t (&a)[4], uint64_t desc_b) {
#if NATTEN_WGMMA
  asm volatile("wgmma.mma_async.sync.aligned.m64n32k8.f32.tf32.tf32 " NATTEN_WG_R16 ", {%16,%17,%18,%19}, %20, 1, 1, 1;\n"
               : NATTEN_WG_D16 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b));
#else
  __trap();
#endif
}
template <>
NATTEN_DEVICE void wgmma_rs<64>(float (&d)[32], const uint32_t (&a)[4], uint64_t desc_b) {
#if NATTEN_WGMMA
  asm volatile("wgmma.mma_async.sync.aligned.m64n64k8.f32.tf32.tf32 " NATTEN_WG_R32 ", {%32,%33,%34,%35}, %36, 1, 1, 1;\n"
               : NATTEN_WG_D32 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b));
#else
  __trap();
#endif
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
// p 8-byte aligned.
NATTEN_DEVICE void store2(float* p, float x, float y) { *reinterpret_cast<float2*>(p) = make_float2(x, y); }

NATTEN_DEVICE float shfl_xor(float v, int mask) { return __shfl_xor_sync(0xffffffffu, v, mask); }

// v, the same in every lane of the (full, converged) warp, as lane 0's: the compiler then knows it is
// warp-uniform (it can live in a uniform register, as wgmma's descriptors must).
NATTEN_DEVICE int warp_uniform(int v) { return __shfl_sync(0xffffffffu, v, 0); }

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

#if defined(NATTEN_EMULATION) || defined(__CUDACC__)
namespace natten {
namespace dev {

// x for an MMA that reads only a TF32 operand's top 19 bits (the hardware and the emulator alike drop the low 13):
// half a TF32 unit added to the bits gives, once dropped, exactly cvt.rna's rounding (to nearest, ties away), in
// one add instead of cvt.rna's three instructions on sm_90.
// - tf32_rna_unit: for values known finite (a NaN whose top 19 bits are all ones, as CUDA's 0x7fffffff, would wrap
//   to a zero: fine for the forward's P, whose row sum still carries the NaN to the output).
// - tf32_rna_piece_unit: the amount to add for four values at once, half a TF32 unit where all four are finite
//   (judged on the sum of their magnitudes: an infinity or a NaN makes it so; a sum past the float range leaves
//   such a piece to wgmma's truncation), else 0, leaving every bit of the four as it is (one test, not four).
NATTEN_DEVICE uint32_t tf32_rna_unit(float x) { return float_bits(x) + 0x1000u; }
NATTEN_DEVICE uint32_t tf32_rna_piece_unit(const float (&v)[4]) {
  const float sum = (fabsf(v[0]) + fabsf(v[1])) + (fabsf(v[2]) + fabsf(v[3]));
  return sum < INFINITY ? 0x1000u : 0u;
}

}  // namespace dev
}  // namespace natten
#endif
