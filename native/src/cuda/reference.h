// The reference kernels: one thread per output element, every sum in double, written straight from the
// spec with the per-axis functions of natten/na_mask.h. Slow and obviously right: the fast kernels are
// tested against them, and problems the fast kernels do not support run on them.
#pragma once

#include "natten/cuda/api.h"

namespace natten {
namespace cuda {
namespace reference {

Status na_forward(const NAProblem& p, const NAForwardArgs& args, cudaStream_t stream);
// `delta` is B * tokens * heads floats of scratch.
Status na_backward(const NAProblem& p, const NABackwardArgs& args, float* delta, cudaStream_t stream);
Status qk_forward(const NAProblem& p, const QKForwardArgs& args, cudaStream_t stream);
Status qk_backward(const NAProblem& p, const QKBackwardArgs& args, cudaStream_t stream);
Status av_forward(const NAProblem& p, const AVForwardArgs& args, cudaStream_t stream);
Status av_backward(const NAProblem& p, const AVBackwardArgs& args, cudaStream_t stream);

}  // namespace reference
}  // namespace cuda
}  // namespace natten
