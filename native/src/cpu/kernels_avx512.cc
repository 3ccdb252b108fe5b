// The row kernels with AVX2 and FMA on a CPU with AVX-512F and AVX-512VL: the same 256-bit code as
// kernels_avx2.cc, compiled with -mavx512f -mavx512vl as well, so that it has 32 vector registers instead of
// 16 (kernels.h plans for them: NATTEN_VECTOR_REGISTERS). This translation unit alone is compiled with those
// flags (natten_cpu.gypi, x86-64 only); na_cpu.cc calls it only when the CPU and the OS support AVX-512F and
// AVX-512VL (cpu_has_avx512). Everything it defines lives in the namespace `avx512`.
#define NATTEN_ISA avx512
#include "kernels.h"

namespace natten {
namespace cpu {

#if defined(__AVX2__) && defined(__FMA__) && defined(__AVX512F__) && defined(__AVX512VL__)
const KernelTable* avx512_kernels() {
  static const KernelTable table = [] {
    KernelTable t = avx512::Rows<avx512::simd::Avx2>::table();
    t.name = "avx512";
    return t;
  }();
  return &table;
}
#else
const KernelTable* avx512_kernels() { return nullptr; }
#endif

}  // namespace cpu
}  // namespace natten
