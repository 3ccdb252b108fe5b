// Times the native CPU kernels without tfjs: forward and backward of one problem (default: the `2d` preset,
// 56x56 tokens, 4 heads, head dim 32, kernel 7x7), thread CPU time of the calling thread (preemption does
// not inflate it), median over repeats, nanoseconds and cycles per (query, key) pair. `--dim D` sets the
// head dim (query, key and value alike).
//
//   bash bench/native/run_driver.sh [--threads N] [--reps R] [--preset 2d|3d] [--dim D] [--ghz G] [--kept 0|1|2]
//
// --kept 1: the forward keeps its attention weights (na_forward's `weights`, where kept_weights_length allows) and
// the backward reads them, as under a tfjs gradient tape; --kept 2: the same, the weights not on a cache line.
//
// NATTEN_CPU_ISA=avx512|avx2|portable and NATTEN_CPU_TILE_LINES=1 in the environment select the row kernels and
// the blocked backward's tiles (see na_cpu.h), for before/after comparisons in one binary.
#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "na_cpu.h"

namespace {

double thread_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

double wall_seconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1, reps = 15, dim = 32, kept = 0;
  double ghz = 0;
  std::string preset = "2d";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--threads") threads = std::atoi(argv[i + 1]);
    else if (a == "--reps") reps = std::atoi(argv[i + 1]);
    else if (a == "--preset") preset = argv[i + 1];
    else if (a == "--dim") dim = std::atoi(argv[i + 1]);
    else if (a == "--ghz") ghz = std::atof(argv[i + 1]);
    else if (a == "--kept") kept = std::atoi(argv[i + 1]);
  }
  natten::cpu::Problem p;
  p.heads = p.heads_kv = 4;
  p.head_dim = p.head_dim_v = dim;
  if (preset == "3d") {
    p.length[0] = 8; p.length[1] = 16; p.length[2] = 16;
    p.kernel[0] = 3; p.kernel[1] = 7; p.kernel[2] = 7;
  } else {
    p.length[1] = 56; p.length[2] = 56;
    p.kernel[1] = 7; p.kernel[2] = 7;
  }
  p.scale = 1.0f / std::sqrt(static_cast<float>(dim));
  if (ghz <= 0) ghz = natten::cpu::measure_clock().add_chain_ghz;
  natten::cpu::set_num_threads(threads);
  const std::string err = natten::cpu::validate(p);
  if (!err.empty()) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return 1;
  }
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.f, 1.f);
  auto rnd = [&](int64_t n) {
    std::vector<float> v(n);
    for (auto& x : v) x = nd(rng);
    return v;
  };
  auto q = rnd(p.query_elems()), k = rnd(p.key_elems()), v = rnd(p.value_elems()), dout = rnd(p.output_elems());
  std::vector<float> out(p.output_elems()), lse(p.lse_elems()), dq(q.size()), dk(k.size()), dv(v.size());
  const int64_t wn = kept ? natten::cpu::kept_weights_length(p) : 0;
  // --kept 1: the weights start on a cache line (as the addon's arrays do); --kept 2: 4 bytes past one.
  std::vector<float> weights(wn + 32);
  float* w = nullptr;
  if (wn > 0) {
    w = weights.data() + (64 - reinterpret_cast<uintptr_t>(weights.data()) % 64) % 64 / 4 + (kept == 2 ? 1 : 0);
  }
  std::vector<double> fwd_cpu, fwd_wall, bwd_cpu, bwd_wall;
  for (int r = 0; r < reps + 2; ++r) {
    double c0 = thread_seconds(), w0 = wall_seconds();
    natten::cpu::na_forward(p, q.data(), k.data(), v.data(), nullptr, nullptr, nullptr, out.data(), lse.data(), w, wn);
    double c1 = thread_seconds(), w1 = wall_seconds();
    natten::cpu::na_backward(p, q.data(), k.data(), v.data(), nullptr, nullptr, nullptr, out.data(), lse.data(),
                             dout.data(), nullptr, dq.data(), dk.data(), dv.data(), nullptr, nullptr, nullptr, w, wn);
    double c2 = thread_seconds(), w2 = wall_seconds();
    if (r >= 2) {
      fwd_cpu.push_back(c1 - c0);
      fwd_wall.push_back(w1 - w0);
      bwd_cpu.push_back(c2 - c1);
      bwd_wall.push_back(w2 - w1);
    }
  }
  double checksum = 0;
  for (float x : dq) checksum += x;
  for (float x : dk) checksum += x;
  for (float x : dv) checksum += x;
  const double pairs = static_cast<double>(p.batch) * p.heads * p.tokens() * p.kernel_volume();
  auto line = [&](const char* what, double cpu, double wall) {
    std::printf("%-4s thread-cpu %7.3f ms  wall %7.3f ms  %6.2f ns/pair  %6.1f cycles/pair (1 thread only)\n", what,
                cpu * 1e3, wall * 1e3, cpu * 1e9 / pairs, cpu * 1e9 / pairs * ghz);
  };
  std::printf("preset %s, head dim %d, %d thread(s), isa %s, %d-line tiles, clock %.2f GHz, %d reps (medians), "
              "weights kept: %s, checksum %.6g\n",
              preset.c_str(), dim, threads, natten::cpu::isa_name(natten::cpu::active_isa()),
              natten::cpu::tile_lines(), ghz, reps, wn > 0 ? "yes" : "no", checksum);
  const double fc = median(fwd_cpu), fw = median(fwd_wall), bc = median(bwd_cpu), bw = median(bwd_wall);
  line("fwd", fc, fw);
  line("bwd", bc, bw);
  // The fastest repeat of each: on a shared machine, less moved by other processes than the median.
  const double fmin = *std::min_element(fwd_cpu.begin(), fwd_cpu.end());
  const double bmin = *std::min_element(bwd_cpu.begin(), bwd_cpu.end());
  std::printf("min  thread-cpu fwd %7.3f ms  bwd %7.3f ms\n", fmin * 1e3, bmin * 1e3);
  std::printf("bwd/fwd thread-cpu %.2f  wall %.2f  (fwd+bwd)/fwd wall %.2f\n", bc / fc, bw / fw, (fw + bw) / fw);
  return 0;
}
