// The split ops' kernels (QK and AV, forward and backward): memory-bound, so CUDA cores in float32, one warp
// per row with coalesced loads, and the inverse neighborhood for the key-side gradients (no atomics);
// gradients that every query shares (dRpb, the extra tokens) are block reductions followed by atomics.
#pragma once

#include "natten/cuda/api.h"

namespace natten {
namespace cuda {
namespace split {

Status qk_forward(const NAProblem& p, const QKForwardArgs& args, cudaStream_t stream);
Status qk_backward(const NAProblem& p, const QKBackwardArgs& args, cudaStream_t stream);
Status av_forward(const NAProblem& p, const AVForwardArgs& args, cudaStream_t stream);
Status av_backward(const NAProblem& p, const AVBackwardArgs& args, cudaStream_t stream);

}  // namespace split
}  // namespace cuda
}  // namespace natten
