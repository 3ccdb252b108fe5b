// The core clock, measured for the benchmark's peak-FLOP figure: a chain of dependent instructions timed in
// thread CPU time (so preemption does not count). An integer add of two registers has a latency of one cycle on
// every x86-64 core; a 256-bit FMA has four on the cores this project targets (AMD Zen 2 to 4, Intel Skylake and
// later), which is the assumption behind the FMA figure. Elsewhere both return 0. The adds take their operand from
// a register, not an immediate: Intel's newer cores (Golden Cove on) fold chains of adds of small immediates at
// renaming, and such a chain read 11-19 GHz on a Sapphire Rapids-class VM whose register-add chain, integer
// multiplies and FMA chain all read 3.4-3.55 GHz.
#include <algorithm>
#include <ctime>

#include "na_cpu.h"

namespace natten {
namespace cpu {

namespace {

double thread_seconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

constexpr long kChain = 64L << 20;  // instructions per timing (about 20 ms at 3 GHz for adds)

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
double add_chain_seconds() {
  long n = kChain, x = 0, one = 1;
  const double t0 = thread_seconds();
  __asm__ volatile(
      "1:\n\t"
      "add %2, %0\n\tadd %2, %0\n\tadd %2, %0\n\tadd %2, %0\n\t"
      "add %2, %0\n\tadd %2, %0\n\tadd %2, %0\n\tadd %2, %0\n\t"
      "sub $8, %1\n\tjnz 1b\n"
      : "+r"(x), "+r"(n)
      : "r"(one));
  return thread_seconds() - t0;
}

double fma_chain_seconds() {
  long n = kChain / 4;
  const double t0 = thread_seconds();
  __asm__ volatile(
      "vxorps %%ymm0, %%ymm0, %%ymm0\n\t"
      "vxorps %%ymm1, %%ymm1, %%ymm1\n\t"
      "1:\n\t"
      "vfmadd231ps %%ymm1, %%ymm1, %%ymm0\n\tvfmadd231ps %%ymm1, %%ymm1, %%ymm0\n\t"
      "vfmadd231ps %%ymm1, %%ymm1, %%ymm0\n\tvfmadd231ps %%ymm1, %%ymm1, %%ymm0\n\t"
      "sub $4, %0\n\tjnz 1b\n\t"
      "vzeroupper\n"
      : "+r"(n)
      :
      : "xmm0", "xmm1");
  return thread_seconds() - t0;
}
#endif

}  // namespace

Clock measure_clock() {
  Clock c;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  for (int rep = 0; rep < 5; ++rep) {  // the fastest of five: a slower one was interrupted or clocked down
    const double add = add_chain_seconds();
    if (add > 0) c.add_chain_ghz = std::max(c.add_chain_ghz, kChain / add * 1e-9);
    if (cpu_has_avx2()) {
      const double fma = fma_chain_seconds();
      if (fma > 0) c.fma_chain_ghz = std::max(c.fma_chain_ghz, (kChain / 4) * 4.0 / fma * 1e-9);
    }
  }
#endif
  return c;
}

}  // namespace cpu
}  // namespace natten
