// The row kernels for any CPU: the 8-lane arrays of simd::Portable, vectorized by the compiler for the
// target's baseline (SSE2 on x86-64, NEON on arm64). Also what the tests run to check the AVX2 kernels.
#define NATTEN_ISA portable
#include "kernels.h"

namespace natten {
namespace cpu {

const KernelTable& portable_kernels() {
  static const KernelTable table = portable::Rows<portable::simd::Portable>::table();
  return table;
}

}  // namespace cpu
}  // namespace natten
