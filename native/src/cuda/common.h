// Host-side helpers shared by the launch code: status building, launch checks, 1-D grid sizing.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

#include "natten/cuda/api.h"

namespace natten {
namespace cuda {

inline Status cuda_error(cudaError_t code, const std::string& what) {
  return Status{code, what + ": " + cudaGetErrorName(code) + " (" + cudaGetErrorString(code) + ")"};
}

inline Status invalid(const std::string& what) { return Status{cudaErrorInvalidValue, what}; }

// Returns the pending launch error, if any, naming the kernel.
inline Status check_launch(const char* kernel) {
  const cudaError_t e = cudaGetLastError();
  return e == cudaSuccess ? Status{} : cuda_error(e, std::string("launch of ") + kernel);
}

#define NATTEN_RETURN_IF_ERROR(expr) \
  do {                               \
    Status natten_status_ = (expr);  \
    if (!natten_status_.ok()) {      \
      return natten_status_;         \
    }                                \
  } while (0)

#define NATTEN_CUDA_RETURN_IF_ERROR(expr, what)        \
  do {                                                 \
    const cudaError_t natten_code_ = (expr);           \
    if (natten_code_ != cudaSuccess) {                 \
      return cuda_error(natten_code_, (what));         \
    }                                                  \
  } while (0)

constexpr int kFlatThreads = 256;
#if defined(NATTEN_EMULATION)
constexpr int64_t kFlatMaxBlocks = 2;  // the emulator runs blocks one after the other: loop instead
#else
constexpr int64_t kFlatMaxBlocks = int64_t(1) << 20;
#endif

// Blocks for a grid-stride loop over n items (at least one, capped well inside gridDim.x's range).
inline unsigned flat_blocks(int64_t n) {
  const int64_t blocks = (n + kFlatThreads - 1) / kFlatThreads;
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(blocks, kFlatMaxBlocks)));
}

}  // namespace cuda
}  // namespace natten
