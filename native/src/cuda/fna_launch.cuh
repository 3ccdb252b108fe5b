// Definitions of the launchers declared in fna_launch.h, included by each fna_hdim<bucket>.cu: the grid,
// the shared-memory opt-in (cudaFuncSetAttribute) and a launch check per kernel, and the precision switch.
#pragma once

#include <string>
#include <utility>

#include "common.h"
#include "fna_backward.cuh"
#include "fna_forward_wgmma.cuh"
#include "fna_launch.h"
#include "natten/cuda/kernel_traits.h"

namespace natten {
namespace cuda {
namespace fna {

inline dim3 tile_grid(const Params& p, int y) {
  return dim3(static_cast<unsigned>(static_cast<int64_t>(p.tiles[0]) * p.tiles[1] * p.tiles[2]),
              static_cast<unsigned>(y), static_cast<unsigned>(p.batch));
}

template <class Kernel>
Status allow_smem(Kernel kernel, int bytes, const char* name) {
  if (bytes > 48 * 1024) {
    NATTEN_CUDA_RETURN_IF_ERROR(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes),
                                std::string("raising the shared-memory limit of ") + name);
  }
  return Status{};
}

template <class T>
Status launch_forward(const Params& p, cudaStream_t stream) {
  if constexpr (T::kLeanWgmma) {
    NATTEN_RETURN_IF_ERROR(allow_smem(fna_forward_wgmma_kernel<T>, T::kSmemBytes, "the fused forward (wgmma)"));
    NATTEN_LAUNCH(fna_forward_wgmma_kernel<T>, tile_grid(p, p.heads), dim3(T::kThreads), T::kSmemBytes, stream, p);
  } else {
    NATTEN_RETURN_IF_ERROR(allow_smem(fna_forward_kernel<T>, T::kSmemBytes, "the fused forward"));
    NATTEN_LAUNCH(fna_forward_kernel<T>, tile_grid(p, p.heads), dim3(T::kThreads), T::kSmemBytes, stream, p);
  }
  return check_launch("fused forward");
}

template <class TQ, class TKV>
Status launch_backward(const Params& dq, const Params& dkv, cudaStream_t stream) {
  const int64_t rows = dq.batch * dq.tokens * dq.heads;
  constexpr int warps = kDeltaThreads / 32;
  const unsigned delta_blocks = static_cast<unsigned>(std::min<int64_t>((rows + warps - 1) / warps, kFlatMaxBlocks));
  NATTEN_LAUNCH(fna_delta_kernel, dim3(delta_blocks), dim3(kDeltaThreads), 0, stream, dq);
  NATTEN_RETURN_IF_ERROR(check_launch("fused backward delta"));

  const int dq_smem = TQ::kSmemBytes + (dq.has_rpb && dq.rpb_in_smem ? 4 * dq.rpb_volume : 0);
  NATTEN_RETURN_IF_ERROR(allow_smem(fna_dq_kernel<TQ>, dq_smem, "the fused dq"));
  NATTEN_LAUNCH(fna_dq_kernel<TQ>, tile_grid(dq, dq.heads), dim3(TQ::kThreads), dq_smem, stream, dq);
  NATTEN_RETURN_IF_ERROR(check_launch("fused backward dq"));

  NATTEN_RETURN_IF_ERROR(allow_smem(fna_dkv_kernel<TKV>, TKV::kSmemBytes, "the fused dk/dv"));
  NATTEN_LAUNCH(fna_dkv_kernel<TKV>, tile_grid(dkv, dkv.heads_kv * TKV::kColSplits), dim3(TKV::kThreads),
                TKV::kSmemBytes, stream, dkv);
  return check_launch("fused backward dk/dv");
}

// Configuration kConfig of kForwardConfigs in TF32, where it fits in shared memory.
template <int kHeadDim, int kConfig>
Status launch_forward_config(const Params& p, cudaStream_t stream) {
  constexpr ForwardConfig c = kForwardConfigs[kConfig];
  if constexpr (forward_config_fits(kHeadDim, c)) {
    return launch_forward<ForwardTraits<kHeadDim, false, c.warps, c.block_n, c.min_blocks, c.q_regs, c.lean>>(p, stream);
  } else {
    return invalid("forward configuration " + std::to_string(kConfig) + " does not fit head-dim bucket " +
                   std::to_string(kHeadDim));
  }
}

template <int kHeadDim, int... kConfigs>
Status launch_forward_by_config(const Params& p, int config, cudaStream_t stream,
                                std::integer_sequence<int, kConfigs...>) {
  Status s = invalid("no forward configuration " + std::to_string(config));
  (void)((config == kConfigs ? (s = launch_forward_config<kHeadDim, kConfigs>(p, stream), true) : false) || ...);
  return s;
}

template <int kHeadDim>
Status run_forward(const Params& p, bool precise, int config, cudaStream_t stream) {
  if (precise) {
    return launch_forward<ForwardTraits<kHeadDim, true>>(p, stream);
  }
  return launch_forward_by_config<kHeadDim>(p, config, stream, std::make_integer_sequence<int, kForwardConfigCount>());
}

template <int kHeadDim>
Status run_backward(const Params& dq, const Params& dkv, bool precise, cudaStream_t stream) {
  return precise ? launch_backward<DqTraits<kHeadDim, true>, DkvTraits<kHeadDim, true>>(dq, dkv, stream)
                 : launch_backward<DqTraits<kHeadDim, false>, DkvTraits<kHeadDim, false>>(dq, dkv, stream);
}

#define NATTEN_INSTANTIATE_FNA(kHeadDim)                                                                     \
  template Status run_forward<kHeadDim>(const Params&, bool, int, cudaStream_t);                                 \
  template Status run_backward<kHeadDim>(const Params&, const Params&, bool, cudaStream_t);

}  // namespace fna
}  // namespace cuda
}  // namespace natten
