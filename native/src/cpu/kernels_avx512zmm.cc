// The avx512zmm row kernels: kernels_avx512.cc's (256-bit code, 32 vector registers) except the blocked
// backward, whose head-dim rows are 512-bit vectors and whose transposed key and value interleave column
// pairs (simd::Avx512). This translation unit alone is compiled with -mavx512f -mavx512vl -mavx2 -mfma
// (natten_cpu.gypi, x86-64 only); na_cpu.cc calls it only where it may call kernels_avx512.cc
// (cpu_has_avx512). Everything it defines lives in the namespace `avx512zmm`.
#define NATTEN_ISA avx512zmm
#include "kernels.h"

namespace natten {
namespace cpu {

#if defined(__AVX2__) && defined(__FMA__) && defined(__AVX512F__) && defined(__AVX512VL__)
const KernelTable* avx512zmm_kernels() {
  static const KernelTable table = avx512zmm::Rows<avx512zmm::simd::Avx512>::table();
  return &table;
}
#else
const KernelTable* avx512zmm_kernels() { return nullptr; }
#endif

}  // namespace cpu
}  // namespace natten
