// Research probe, not part of the package: the TF32 wgmma of sm_90a (Hopper) on the device at hand. Build and run on
// the GPU machine: nvcc -O3 -gencode arch=compute_90a,code=sm_90a bench/probes/wgmma_probe.cu -o /tmp/p && /tmp/p
// 1. Layout: which descriptor fields (LBO, SBO) step along K and along M/N in the no-swizzle K-major layout,
//    with A from shared memory and with A from registers; checked against a host product.
// 2. Rate: m64n32k8 wgmma against m16n8k8 mma.sync on the same work (an S = Q K^T chunk), every SM busy.
#include <cuda_runtime.h>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <cmath>
#include <vector>

#define CHECK(x) do { cudaError_t e = (x); if (e != cudaSuccess) { printf("CUDA error %s at %d\n", cudaGetErrorString(e), __LINE__); exit(1); } } while (0)

__device__ uint64_t desc(const void* p, uint32_t lbo, uint32_t sbo) {
  const uint32_t a = static_cast<uint32_t>(__cvta_generic_to_shared(p));
  uint64_t d = 0;
  d |= static_cast<uint64_t>((a >> 4) & 0x3fff);
  d |= static_cast<uint64_t>((lbo >> 4) & 0x3fff) << 16;
  d |= static_cast<uint64_t>((sbo >> 4) & 0x3fff) << 32;
  return d;  // base offset 0, swizzle 0 (none)
}

__device__ __forceinline__ void wg_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wg_wait0() { asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory"); }

// D (64x32, 16 floats per thread) += A (smem) * B (smem)
__device__ __forceinline__ void wgmma_ss(float (&d)[16], uint64_t da, uint64_t db) {
  asm volatile(
      "{\n"
      "wgmma.mma_async.sync.aligned.m64n32k8.f32.tf32.tf32 "
      "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15}, %16, %17, 1, 1, 1;\n"
      "}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
        "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15])
      : "l"(da), "l"(db));
}

// D (64x32) += A (registers, 4 per thread) * B (smem)
__device__ __forceinline__ void wgmma_rs(float (&d)[16], const uint32_t (&a)[4], uint64_t db) {
  asm volatile(
      "{\n"
      "wgmma.mma_async.sync.aligned.m64n32k8.f32.tf32.tf32 "
      "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15}, {%16,%17,%18,%19}, %20, 1, 1, 1;\n"
      "}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
        "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db));
}

// Core matrix (r8, k4) of a rows x 8 K-major operand: 8 rows x 4 floats, 128 contiguous bytes, placed at
// byte (k4 * (rows / 8) + r8) * 128: cores adjacent along M/N are 128 bytes apart, along K rows / 8 * 128.
__host__ __device__ int core_offset(int row, int k, int rows) {
  return ((k / 4) * (rows / 8) + row / 8) * 32 + (row % 8) * 4 + k % 4;  // in floats
}

// mode 0: A and B from smem with lbo = K step, sbo = M/N step; mode 1: swapped; mode 2/3: A from registers
// (mma.sync m16n8k8 fragment order per warp), B as mode 0/1. out: 64x32 row-major.
__global__ void layout_kernel(const float* a, const float* b, float* out, int mode) {
  __shared__ __align__(128) float sa[64 * 8];
  __shared__ __align__(128) float sb[32 * 8];
  const int t = threadIdx.x;
  for (int i = t; i < 64 * 8; i += 128) {
    const int r = i / 8, k = i % 8;
    sa[core_offset(r, k, 64)] = a[i];
  }
  for (int i = t; i < 32 * 8; i += 128) {
    const int n = i / 8, k = i % 8;  // b given as N x K (row n holds B[:, n])
    sb[core_offset(n, k, 32)] = b[i];
  }
  __syncthreads();
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
  const bool swap = mode == 1 || mode == 3;
  const uint32_t a_k = 1024, a_mn = 128, b_k = 512, b_mn = 128;
  const uint64_t da = desc(sa, swap ? a_mn : a_k, swap ? a_k : a_mn);
  const uint64_t db = desc(sb, swap ? b_mn : b_k, swap ? b_k : b_mn);
  float d[16];
  for (int i = 0; i < 16; i++) d[i] = 0.f;
  const int warp = t / 32, lane = t % 32, g = lane / 4, q = lane % 4;
  uint32_t ar[4];
  ar[0] = __float_as_uint(a[(16 * warp + g) * 8 + q]);
  ar[1] = __float_as_uint(a[(16 * warp + g + 8) * 8 + q]);
  ar[2] = __float_as_uint(a[(16 * warp + g) * 8 + q + 4]);
  ar[3] = __float_as_uint(a[(16 * warp + g + 8) * 8 + q + 4]);
  wg_fence();
  if (mode < 2) {
    wgmma_ss(d, da, db);
  } else {
    wgmma_rs(d, ar, db);
  }
  wg_commit();
  wg_wait0();
  for (int nb = 0; nb < 4; nb++) {
    const int r0 = 16 * warp + g, c0 = 8 * nb + 2 * q;
    out[r0 * 32 + c0] = d[4 * nb + 0];
    out[r0 * 32 + c0 + 1] = d[4 * nb + 1];
    out[(r0 + 8) * 32 + c0] = d[4 * nb + 2];
    out[(r0 + 8) * 32 + c0 + 1] = d[4 * nb + 3];
  }
}

// Rate: each CTA (one warpgroup) runs `iters` rounds of 8 m64n32k8 wgmmas (A and B in smem), one commit and wait
// per round, as S = Q K^T of a 64-query, 32-key, 64-dim chunk.
__global__ void rate_wgmma(float* sink, int iters) {
  __shared__ __align__(128) float sa[64 * 64];
  __shared__ __align__(128) float sb[32 * 64];
  for (int i = threadIdx.x; i < 64 * 64; i += 128) sa[i] = 0.001f * (i % 7);
  for (int i = threadIdx.x; i < 32 * 64; i += 128) sb[i] = 0.001f * (i % 5);
  __syncthreads();
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
  float d[16];
  for (int i = 0; i < 16; i++) d[i] = 0.f;
  for (int it = 0; it < iters; it++) {
    wg_fence();
#pragma unroll
    for (int ks = 0; ks < 8; ks++) {
      wgmma_ss(d, desc(sa + ks * 64 * 8, 1024, 128), desc(sb + ks * 32 * 8, 128 * 4, 128));
    }
    wg_commit();
    wg_wait0();
  }
  float s = 0.f;
  for (int i = 0; i < 16; i++) s += d[i];
  if (s == 12345.f) sink[threadIdx.x] = s;
}

// The same work by mma.sync m16n8k8: per warp 16 rows x 32 columns x 64 dims = 4 n-tiles x 8 k-steps.
__global__ void rate_mma(float* sink, int iters) {
  __shared__ __align__(16) float sa[64 * 68];
  __shared__ __align__(16) float sb[32 * 68];
  for (int i = threadIdx.x; i < 64 * 68; i += 128) sa[i] = 0.001f * (i % 7);
  for (int i = threadIdx.x; i < 32 * 68; i += 128) sb[i] = 0.001f * (i % 5);
  __syncthreads();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, q = lane % 4;
  float d[4][4] = {};
  for (int it = 0; it < iters; it++) {
#pragma unroll
    for (int ks = 0; ks < 8; ks++) {
      uint32_t a[4];
      const float* ap = sa + (16 * warp + g) * 68 + 8 * ks + q;
      a[0] = __float_as_uint(ap[0]);
      a[1] = __float_as_uint(ap[8 * 68]);
      a[2] = __float_as_uint(ap[4]);
      a[3] = __float_as_uint(ap[8 * 68 + 4]);
#pragma unroll
      for (int j = 0; j < 4; j++) {
        const float* bp = sb + (8 * j + g) * 68 + 8 * ks + q;
        const uint32_t b0 = __float_as_uint(bp[0]), b1 = __float_as_uint(bp[4]);
        asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+f"(d[j][0]), "+f"(d[j][1]), "+f"(d[j][2]), "+f"(d[j][3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
      }
    }
    __syncwarp();
  }
  float s = 0.f;
  for (int j = 0; j < 4; j++) for (int i = 0; i < 4; i++) s += d[j][i];
  if (s == 12345.f) sink[threadIdx.x] = s;
}

int main() {
  cudaDeviceProp prop;
  CHECK(cudaGetDeviceProperties(&prop, 0));
  printf("device %s, sm_%d%d, %d SMs\n", prop.name, prop.major, prop.minor, prop.multiProcessorCount);
  std::vector<float> a(64 * 8), b(32 * 8), ref(64 * 32, 0.f), out(64 * 32);
  srand(7);
  auto tf32 = [](float x) { uint32_t u; memcpy(&u, &x, 4); u &= 0xffffe000u; float y; memcpy(&y, &u, 4); return y; };
  for (auto& x : a) x = tf32(static_cast<float>(rand()) / RAND_MAX - 0.5f);
  for (auto& x : b) x = tf32(static_cast<float>(rand()) / RAND_MAX - 0.5f);
  for (int m = 0; m < 64; m++)
    for (int n = 0; n < 32; n++)
      for (int k = 0; k < 8; k++) ref[m * 32 + n] += a[m * 8 + k] * b[n * 8 + k];
  float *da, *db, *dout, *sink;
  CHECK(cudaMalloc(&da, a.size() * 4));
  CHECK(cudaMalloc(&db, b.size() * 4));
  CHECK(cudaMalloc(&dout, out.size() * 4));
  CHECK(cudaMalloc(&sink, 4096));
  CHECK(cudaMemcpy(da, a.data(), a.size() * 4, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(db, b.data(), b.size() * 4, cudaMemcpyHostToDevice));
  const char* names[] = {"A,B smem; LBO = K step, SBO = M/N step", "A,B smem; LBO = M/N step, SBO = K step",
                         "A regs, B smem; LBO = K step, SBO = N step", "A regs, B smem; LBO = N step, SBO = K step"};
  // mode 1 (swapped fields) addresses outside the block's shared memory on the H200 (illegal address on the
  // first run): mode 0 is the one; modes 0 and 2 run here.
  for (int mode = 0; mode < 4; mode += 2) {
    CHECK(cudaMemset(dout, 0, out.size() * 4));
    layout_kernel<<<1, 128>>>(da, db, dout, mode);
    CHECK(cudaGetLastError());
    CHECK(cudaDeviceSynchronize());
    CHECK(cudaMemcpy(out.data(), dout, out.size() * 4, cudaMemcpyDeviceToHost));
    double err = 0, norm = 0;
    for (size_t i = 0; i < out.size(); i++) {
      err = fmax(err, fabs(out[i] - ref[i]));
      norm = fmax(norm, fabs(ref[i]));
    }
    printf("layout mode %d (%s): max abs err %.3g (max |ref| %.3g) %s\n", mode, names[mode], err, norm,
           err < 1e-4 ? "MATCH" : "differs");
  }
  const int iters = 4096, blocks = prop.multiProcessorCount * 4;
  cudaEvent_t e0, e1;
  CHECK(cudaEventCreate(&e0));
  CHECK(cudaEventCreate(&e1));
  for (int round = 0; round < 2; round++) {
    for (int which = 0; which < 2; which++) {
      CHECK(cudaEventRecord(e0));
      if (which == 0) rate_wgmma<<<blocks, 128>>>(sink, iters);
      else rate_mma<<<blocks, 128>>>(sink, iters);
      CHECK(cudaEventRecord(e1));
      CHECK(cudaEventSynchronize(e1));
      CHECK(cudaGetLastError());
      float ms = 0;
      CHECK(cudaEventElapsedTime(&ms, e0, e1));
      const double flop = 2.0 * 64 * 32 * 64 * iters * blocks;
      printf("rate %s: %.3f ms, %.1f TFLOP/s (4 CTAs of 4 warps per SM, S-chunk shape 64x32x64)\n",
             which == 0 ? "wgmma m64n32k8 (smem A, B)" : "mma.sync m16n8k8 (fragments from smem)", ms, flop / ms / 1e9);
    }
  }
  return 0;
}
