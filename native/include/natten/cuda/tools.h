// Device-side tools for the GPU check: the self-check of the fast kernels against the reference kernels on
// random inputs, and the benchmark with data resident on the device (CUDA events, medians).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "natten/cuda/api.h"

namespace natten {
namespace cuda {
namespace tools {

// One tensor of one op compared: ||fast - ref|| / ||ref||, the largest |fast - ref|, and the elements where
// the fast kernel left something the reference did not (NaN from the poisoned buffer, a wrong infinity).
struct CheckResult {
  std::string op;      // "forward", "backward", "qk forward", ...
  std::string tensor;  // "output", "dQuery", ...
  double rel_err = 0;
  double max_abs = 0;
  int64_t bad = 0;
  int64_t elems = 0;
  double tolerance = 0;
  bool pass = false;
};

struct CheckReport {
  std::vector<CheckResult> results;
  std::string kernels;  // describe_fused of the problem
  double fast_forward_ms = 0, reference_forward_ms = 0;
  double fast_backward_ms = 0, reference_backward_ms = 0;
};

// Runs every op (fused forward and backward, QK and AV forward and backward) with the fast kernels and the
// reference kernels on the same random inputs (seeded), outputs poisoned with NaN before each run, and
// compares them. Tolerance: 1e-3 for the fused ops in TF32, 1e-5 for float32 and for the split ops.
// `forward_only`: the fused forward alone (the sweep of forward configurations).
Status self_check(const NAProblem& p, const RunOptions& options, uint64_t seed, CheckReport* report,
                  bool forward_only = false);

struct BenchResult {
  double forward_ms = 0;           // median of `iters` forward passes
  double forward_backward_ms = 0;  // median of `iters` forward + backward passes
  std::string kernels;
};

// Times the fused forward and forward + backward with inputs resident on the device (random data).
// `forward_only`: skips the forward + backward timing.
Status benchmark(const NAProblem& p, const RunOptions& options, int warmup, int iters, BenchResult* result,
                 bool forward_only = false);

// The GPU targets the device code was compiled for ("750,800,...,900" from nvcc, "emulated" on the host).
const char* compiled_archs();

// Device-to-device copy bandwidth (bytes read plus bytes written per second), median of `iters` copies.
Status copy_bandwidth(size_t bytes, int iters, double* bytes_per_second);

}  // namespace tools
}  // namespace cuda
}  // namespace natten
