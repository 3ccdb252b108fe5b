// tfjs-natten's CUDA entry points, callable from plain C++ (the Node addon, a TensorFlow custom op): device
// pointers, a problem description, a stream. Every call returns a Status instead of throwing; nothing
// synchronizes the stream except where a comment says so.
#pragma once

#include <cstddef>
#include <string>

#include "natten/cuda/compat.h"
#include "natten/problem.h"

namespace natten {
namespace cuda {

struct Status {
  cudaError_t code = cudaSuccess;
  std::string message;
  bool ok() const { return code == cudaSuccess; }
};

// Forward: output and logsumexp.
Status na_forward(const NAProblem& p, const NAForwardArgs& args, const RunOptions& options, cudaStream_t stream);

// Scratch memory the backward needs (device memory, any alignment of 256 bytes or more).
size_t na_backward_workspace_bytes(const NAProblem& p);

// Backward: every gradient (d_rpb and the extra tokens' gradients when those inputs exist).
Status na_backward(const NAProblem& p, const NABackwardArgs& args, const RunOptions& options, void* workspace,
                   size_t workspace_bytes, cudaStream_t stream);

// Split ops. Their kernels run on CUDA cores in float32 (they are memory-bound); options.implementation
// still selects the reference kernels.
Status qk_forward(const NAProblem& p, const QKForwardArgs& args, const RunOptions& options, cudaStream_t stream);
Status qk_backward(const NAProblem& p, const QKBackwardArgs& args, const RunOptions& options, cudaStream_t stream);
Status av_forward(const NAProblem& p, const AVForwardArgs& args, const RunOptions& options, cudaStream_t stream);
Status av_backward(const NAProblem& p, const AVBackwardArgs& args, const RunOptions& options, cudaStream_t stream);

// Which kernels a fused call runs with these options on the current device, in words (for logs and tests):
// "reference (<why>)" or "fast hdim <bucket> <tf32|float32> tile <m0>x<m1>x<m2>".
std::string describe_fused(const NAProblem& p, const RunOptions& options);

}  // namespace cuda
}  // namespace natten
