// The row kernels with AVX2 and FMA. This translation unit alone is compiled with -mavx2 -mfma (binding.gyp,
// x86-64 only); na_cpu.cc calls it only when the CPU supports both (cpu_has_avx2). Everything it defines
// lives in the namespace `avx2` so that no function compiled here can stand in for a portable one.
#define NATTEN_ISA avx2
#include "kernels.h"

namespace natten {
namespace cpu {

#if defined(__AVX2__) && defined(__FMA__)
const KernelTable* avx2_kernels() {
  static const KernelTable table = avx2::Rows<avx2::simd::Avx2>::table();
  return &table;
}
#else
const KernelTable* avx2_kernels() { return nullptr; }
#endif

}  // namespace cpu
}  // namespace natten
