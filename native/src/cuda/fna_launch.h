// Launchers of the fused kernels, one set per head-dim bucket (compiled in fna_hdim<bucket>.cu, so the
// buckets build in parallel). `p` holds the query tile shape for the forward, `dq` and `dkv` the query and
// key tile shapes of the backward; the grids are derived here.
#pragma once

#include "fna_common.cuh"
#include "natten/cuda/api.h"

namespace natten {
namespace cuda {
namespace fna {

// `config`: an index into kForwardConfigs (TF32; float32 runs the bucket's default configuration).
template <int kHeadDim>
Status run_forward(const Params& p, bool precise, int config, cudaStream_t stream);

// Runs delta, dq and dk/dv; d_rpb and the extra tokens' gradients must be zeroed by the caller.
template <int kHeadDim>
Status run_backward(const Params& dq, const Params& dkv, bool precise, cudaStream_t stream);

}  // namespace fna
}  // namespace cuda
}  // namespace natten
