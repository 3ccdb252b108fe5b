// The CUDA entry points (natten/cuda/api.h): for each call, the choice between the fast kernels and the
// reference kernels, the tile shapes, the kernel parameters and the workspace.
#include <algorithm>
#include <climits>
#include <cstdint>
#include <limits>
#include <string>

#include "common.h"
#include "fna_launch.h"
#include "na_split.h"
#include "natten/cuda/api.h"
#include "natten/cuda/kernel_traits.h"
#include "natten/na_mask.h"
#include "reference.h"

namespace natten {
namespace cuda {
namespace {

struct DeviceInfo {
  int major = 0;
  int minor = 0;
  int smem_optin = 0;
};

DeviceInfo device_info() {
  constexpr int kCached = 64;
  static DeviceInfo cache[kCached];
  static bool known[kCached] = {};
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess || device < 0 || device >= kCached) {
    return DeviceInfo{};
  }
  if (!known[device]) {
    DeviceInfo info;
    if (cudaDeviceGetAttribute(&info.major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess ||
        cudaDeviceGetAttribute(&info.minor, cudaDevAttrComputeCapabilityMinor, device) != cudaSuccess ||
        cudaDeviceGetAttribute(&info.smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) != cudaSuccess) {
      cudaGetLastError();
      return DeviceInfo{};
    }
    cache[device] = info;
    known[device] = true;
  }
  return cache[device];
}

int head_dim_bucket(int dim) {
  for (int b : kHeadDimBuckets) {
    if (dim <= b) {
      return b;
    }
  }
  return 0;
}

// The tile shape (a power of two per axis, `rows` in all) that minimizes the work estimate
// tiles x (union box of their windows), preferring longer runs along the last axis on ties. reach_rows > 0 (16: a
// forward configuration's tile_by_reach, one warp's rows; 64: the wgmma forward with two warpgroups, one
// warpgroup's): tiles x (union box of the windows of reach_rows consecutive rows, the sub-box they form in the
// tile's row-major order), the keys each warp or warpgroup computes on rather than those the CTA copies.
void choose_tile(const NAProblem& p, int rows, int (&best)[3], int reach_rows = 0) {
  double best_cost = std::numeric_limits<double>::infinity();
  for (int m0 = 1; m0 <= rows; m0 *= 2) {
    for (int m1 = 1; m0 * m1 <= rows; m1 *= 2) {
      const int m[3] = {m0, m1, rows / (m0 * m1)};
      int sub[3] = {m[0], m[1], m[2]};
      if (reach_rows > 0) {
        int left = reach_rows;
        for (int a = 2; a >= 0; a--) {
          sub[a] = std::min(m[a], left);
          left /= sub[a];
        }
      }
      double cost = 1;
      for (int a = 0; a < 3; a++) {
        const int longest_group = (p.length[a] + p.dilation[a] - 1) / p.dilation[a];
        cost *= static_cast<double>(get_axis_tile_count(p.length[a], p.dilation[a], m[a])) *
                std::min(p.kernel[a] + sub[a] - 1, longest_group);
      }
      if (cost < best_cost || (cost == best_cost && m[2] > best[2])) {
        best_cost = cost;
        for (int a = 0; a < 3; a++) {
          best[a] = m[a];
        }
      }
    }
  }
}

bool aligned16(const void* p) { return p == nullptr || reinterpret_cast<uintptr_t>(p) % 16 == 0; }

fna::Params base_params(const NAProblem& p, const int (&tile)[3]) {
  fna::Params f{};
  f.problem = p;
  f.batch = p.batch;
  f.heads = p.heads;
  f.heads_kv = p.heads_kv;
  f.heads_per_kv = p.heads_per_kv();
  f.head_dim = p.head_dim;
  f.head_dim_v = p.head_dim_v;
  f.n_extra = p.n_extra;
  f.tokens = p.tokens();
  for (int a = 0; a < 3; a++) {
    f.length[a] = p.length[a];
    f.kernel[a] = p.kernel[a];
    f.stride[a] = p.stride[a];
    f.dilation[a] = p.dilation[a];
    f.causal[a] = p.causal[a] ? 1 : 0;
    f.tile[a] = tile[a];
    f.tile_shift[a] = 0;
    while ((1 << f.tile_shift[a]) < tile[a]) {
      f.tile_shift[a]++;
    }
    f.tiles[a] = get_axis_tile_count(p.length[a], p.dilation[a], tile[a]);
  }
  f.rpb_stride[2] = 1;
  f.rpb_stride[1] = p.rpb_extent(2);
  f.rpb_stride[0] = p.rpb_extent(1) * p.rpb_extent(2);
  f.rpb_volume = p.rpb_volume();
  f.has_rpb = p.has_rpb ? 1 : 0;
  f.scale = p.scale;
  f.scale_log2 = p.scale * 1.4426950408889634f;
  return f;
}

// Whether the fast kernels take this problem, and with which bucket and tiles.
struct Plan {
  bool fast = false;
  std::string why;  // why not, when !fast
  int bucket = 0;
  bool precise = false;
  int q_tile[3] = {1, 1, 1};
  int k_tile[3] = {1, 1, 1};
  int forward_config = 0;  // index into kForwardConfigs (the forward; TF32)
};

constexpr int forward_config_index(ForwardConfig c) {
  for (int i = 0; i < kForwardConfigCount; i++) {
    if (kForwardConfigs[i].warps == c.warps && kForwardConfigs[i].block_n == c.block_n &&
        kForwardConfigs[i].min_blocks == c.min_blocks && kForwardConfigs[i].q_regs == c.q_regs &&
        kForwardConfigs[i].lean == c.lean && kForwardConfigs[i].tile_by_reach == c.tile_by_reach) {
      return i;
    }
  }
  return -1;
}

// The dispatcher's forward configurations (TF32), from the benchmark's sweep (bench/cuda_bench.ts --sweep): the
// first rule whose head-dim bucket matches, whose count of non-trivial axes (length > 1) matches (0: any) and
// whose window volume (product of the kernel sizes) is at most max_window, and which can run on this device
// (wgmma_runs), takes its configuration; no rule, the bucket's default (default_forward_config).
struct ForwardRule {
  int bucket;
  int axes;
  int64_t max_window;
  ForwardConfig config;
};
constexpr int64_t kAnyWindow = std::numeric_limits<int64_t>::max();
constexpr ForwardRule kForwardRules[] = {
    // The sweep of 2026-11-28 on an H200 (commit df8d35f; forward ms, best vs the old default): 2d-nat (bucket
    // 32, 7x7) 4x32x4 0.215 vs 4x64 0.316; 2d-large (bucket 64, 13x13) 4x32x4 0.663 vs 0.882; 3d-video (bucket 128,
    // 8x16x16) 8x64 47.96 vs 4x32 56.43; 1d-long (bucket 64, 1023) 8x128 5.153 (4x32x4 5.180) vs 4x64 6.128.
    // Round 3, the final one (commit 446bc12, straight-line masking): auto = best on 2d-nat (4x32x4 0.154),
    // 2d-large (4x32x4 0.532) and 3d-video (8x64 36.16); 1d-long 8x128 4.326 vs 4x32x4 5.061 (best in round 1 too;
    // round 2's opposite result came from the per-score shared-memory reads of the masked edge chunks).
    // Round 4 (commit a9e34ea, the lean paths; sweep of 21:21 UTC): 2d-nat 4x32x4 lean 1 0.134 vs 0.157; 2d-large
    // 4x32x4 lean 31 0.457 vs 0.522; 3d-video 8x64 lean 31 28.67 vs 36.20; 1d-long 8x64 lean 63 3.489 vs 8x128's
    // 4.350 (8x128 with lean 31 spills more and ran 4.62).
    // Round 5 (commit 7849e0d; sweep of 22:09 UTC, flex 3.010 / 1.145 in the same run): 1d-long 8x64x2 lean 127
    // 2.984 vs 8x64 lean 63's 3.463; 2d-large 4x32x4 lean 57 0.419 vs lean 31's 0.463 (lean 25: 0.423); 2d-nat and
    // 3d-video keep round 4's (the only faster 3d-video configuration skips the TF32 rounding of K and V).
    // Round 7 (sweep of 2026-11-29 00:04 UTC; bench/CUDA_NOTES.md): Q's rows paired where Q is read at every chunk:
    // 2d-nat 0.132 vs 0.135, 2d-large 0.410 vs 0.419, 1d-long 8x64x2 lean 255 + Q pairs 2.920 vs lean 127's 2.983.
    // The wgmma forward where it runs (an sm_90 device, the sm_90a build; elsewhere the next rule), on 2-D at four
    // CTAs per SM and on 1-D as two warpgroups sharing the copies (bench/CUDA_NOTES.md, round 19; sweeps of
    // 2026-11-29 19:36-20:12 UTC, H200): 2d-large 0.352-0.364 ms against three CTAs' 0.374-0.384 and the mma.sync
    // pick's 0.409-0.418, 2d-nat (bucket 32) 0.116-0.118 against the mma.sync pick's 0.131-0.135; 1d-long (bucket
    // 64) 2.635 against the mma.sync pick's 2.913 (one warpgroup at four CTAs: 2.896; two warpgroups on 2-D: 2d-large
    // 0.372, 2d-nat 0.151).
    {32, 2, kAnyWindow, {4, 32, 4, 0, 41 | kLeanWgmma}},
    {32, 0, kAnyWindow, {4, 32, 4, 0, kLeanCopies | kLeanQPairs}},
    {64, 1, kAnyWindow, {8, 32, 2, 0, 41 | kLeanWgmma}},
    {64, 1, kAnyWindow, {8, 64, 2, 0, 255 | kLeanQPairs}},
    {64, 2, kAnyWindow, {4, 32, 4, 0, 41 | kLeanWgmma}},
    {64, 0, kAnyWindow, {4, 32, 4, 0, 57 | kLeanQPairs}},
    // Round 10 (sweeps of 2026-11-29 02:20-03:05 UTC): 3d-video 8x64 lean 159 (lean 31 with one barrier per chunk)
    // 27.52-27.79 ms against lean 31's 28.00-28.21 in each of the four sweeps of these kernels (H200).
    {128, 0, kAnyWindow, {8, 64, 0, 0, 159}},
    // Not from a sweep: bucket 256 in TF32 spills 116 bytes with 32-key chunks, none with 16 (ptxas, sm_90).
    {256, 0, kAnyWindow, {4, 16}},
};

constexpr bool rules_in_table() {
  for (const ForwardRule& r : kForwardRules) {
    if (forward_config_index(r.config) < 0) {
      return false;
    }
  }
  return forward_config_index(default_forward_config(32)) >= 0 && forward_config_index(default_forward_config(128)) >= 0;
}
static_assert(rules_in_table(), "every configuration the dispatcher picks is one of kForwardConfigs");

// Whether a forward configuration can run here: the wgmma kernel needs an sm_90 device and the addon's sm_90a pass
// (scripts/build-cuda.js compiles target 90 as sm_90a and defines NATTEN_SM90A); the emulator runs it anywhere.
bool wgmma_runs(const ForwardConfig& fc, const DeviceInfo& info) {
  if ((fc.lean & kLeanWgmma) == 0) {
    return true;
  }
#if defined(NATTEN_EMULATION)
  (void)info;
  return true;
#elif defined(NATTEN_SM90A)
  return info.major == 9 && info.minor == 0;
#else
  (void)info;
  return false;
#endif
}

ForwardConfig choose_forward_config(const NAProblem& p, int bucket, const DeviceInfo& info) {
  int axes = 0;
  int64_t window = 1;
  for (int a = 0; a < 3; a++) {
    axes += p.length[a] > 1 ? 1 : 0;
    window *= p.kernel[a];
  }
  for (const ForwardRule& r : kForwardRules) {
    if (r.bucket == bucket && (r.axes == 0 || r.axes == axes) && window <= r.max_window &&
        wgmma_runs(r.config, info)) {
      return r.config;
    }
  }
  return default_forward_config(bucket);
}

template <int kHeadDim, bool kPrecise>
int max_smem_bytes(bool backward) {
  if (!backward) {
    return ForwardTraits<kHeadDim, kPrecise>::kSmemBytes;
  }
  return std::max(DqTraits<kHeadDim, kPrecise>::kSmemBytes, DkvTraits<kHeadDim, kPrecise>::kSmemBytes);
}

template <int kHeadDim>
int max_smem_bytes(bool precise, bool backward) {
  return precise ? max_smem_bytes<kHeadDim, true>(backward) : max_smem_bytes<kHeadDim, false>(backward);
}

int smem_bytes(int bucket, bool precise, bool backward) {
  switch (bucket) {
    case 32: return max_smem_bytes<32>(precise, backward);
    case 64: return max_smem_bytes<64>(precise, backward);
    case 128: return max_smem_bytes<128>(precise, backward);
    default: return max_smem_bytes<256>(precise, backward);
  }
}

Plan plan(const NAProblem& p, const RunOptions& options, bool backward) {
  Plan plan;
  plan.precise = options.precision == Precision::kFloat32;
  if (options.implementation == Implementation::kReference) {
    plan.why = "reference kernels requested";
    return plan;
  }
  const DeviceInfo info = device_info();
  if (info.major < 8) {
    plan.why = "the device (sm_" + std::to_string(info.major) + std::to_string(info.minor) +
               ") has no TF32 tensor cores and no cp.async; the fast kernels need sm_80 or newer";
    return plan;
  }
  plan.bucket = head_dim_bucket(std::max(p.head_dim, p.head_dim_v));
  if (plan.bucket == 0) {
    plan.why = "head dim " + std::to_string(std::max(p.head_dim, p.head_dim_v)) + " exceeds the fast kernels' " +
               std::to_string(kMaxFastHeadDim);
    return plan;
  }
  const int smem = smem_bytes(plan.bucket, plan.precise, backward);
  if (smem > info.smem_optin) {
    plan.why = "the head-dim " + std::to_string(plan.bucket) + " kernels need " + std::to_string(smem) +
               " bytes of shared memory per block, the device allows " + std::to_string(info.smem_optin);
    return plan;
  }
  ForwardConfig fc = default_forward_config(plan.bucket);
  if (!backward && !plan.precise) {
    if (options.forward_config >= 0) {
      if (options.forward_config >= kForwardConfigCount) {
        plan.why = "forward configuration " + std::to_string(options.forward_config) + " does not exist (0 to " +
                   std::to_string(kForwardConfigCount - 1) + ")";
        return plan;
      }
      fc = kForwardConfigs[options.forward_config];
    } else {
      fc = choose_forward_config(p, plan.bucket, info);
      if (!forward_config_fits(plan.bucket, fc) || forward_smem_bytes(plan.bucket, fc) > info.smem_optin) {
        fc = default_forward_config(plan.bucket);
      }
    }
    const int fc_smem = forward_smem_bytes(plan.bucket, fc);
    if (!wgmma_runs(fc, info)) {
      plan.why = "forward configuration " + std::to_string(options.forward_config) +
                 " uses Hopper's wgmma: it needs an sm_90 device and an addon built for sm_90a (NATTEN_CUDA_ARCHS=90)";
      return plan;
    }
    if (!forward_config_fits(plan.bucket, fc) || fc_smem > info.smem_optin) {
      plan.why = "forward configuration " + std::to_string(fc.warps) + " warps x " + std::to_string(fc.block_n) +
                 " keys needs " + std::to_string(fc_smem) + " bytes of shared memory with head-dim bucket " +
                 std::to_string(plan.bucket) + ", the device allows " + std::to_string(info.smem_optin);
      return plan;
    }
  }
  plan.forward_config = forward_config_index(fc);
  // The rows whose reach the query tile is chosen for: a warpgroup's with two (wgmma), a warp's with tile_by_reach.
  int reach_rows = 0;
  if (!backward && (fc.lean & kLeanWgmma) != 0 && fc.warps > 4) {
    reach_rows = 64;
  } else if (!backward && fc.tile_by_reach) {
    reach_rows = 16;
  }
  choose_tile(p, backward ? 64 : 16 * fc.warps, plan.q_tile, reach_rows);
  choose_tile(p, 64, plan.k_tile);
  int64_t q_tiles = 1, k_tiles = 1;
  for (int a = 0; a < 3; a++) {
    q_tiles *= get_axis_tile_count(p.length[a], p.dilation[a], plan.q_tile[a]);
    k_tiles *= get_axis_tile_count(p.length[a], p.dilation[a], plan.k_tile[a]);
  }
  const int col_splits = plan.bucket > 128 ? plan.bucket / 128 : 1;
  if (q_tiles > INT_MAX || k_tiles > INT_MAX || p.heads > 65535 || p.batch > 65535 ||
      static_cast<int64_t>(p.heads_kv) * col_splits > 65535) {
    plan.why = "the grid would exceed CUDA's limits (batch and heads at most 65535)";
    return plan;
  }
  plan.fast = true;
  return plan;
}

// The largest rpb volume (floats) whose gradient the dq kernel can stage beside its tile in shared memory.
template <int kHeadDim>
int dq_rpb_smem_limit(bool precise) {
  const int tile = precise ? DqTraits<kHeadDim, true>::kSmemBytes : DqTraits<kHeadDim, false>::kSmemBytes;
  return (device_info().smem_optin - tile) / 4;
}

int dq_rpb_smem_limit(int bucket, bool precise) {
  switch (bucket) {
    case 32: return dq_rpb_smem_limit<32>(precise);
    case 64: return dq_rpb_smem_limit<64>(precise);
    case 128: return dq_rpb_smem_limit<128>(precise);
    default: return dq_rpb_smem_limit<256>(precise);
  }
}

template <class F>
Status by_bucket(int bucket, F&& f) {
  switch (bucket) {
    case 32: return f(std::integral_constant<int, 32>());
    case 64: return f(std::integral_constant<int, 64>());
    case 128: return f(std::integral_constant<int, 128>());
    default: return f(std::integral_constant<int, 256>());
  }
}

size_t align256(size_t bytes) { return (bytes + 255) / 256 * 256; }

}  // namespace

Status na_forward(const NAProblem& p, const NAForwardArgs& a, const RunOptions& options, cudaStream_t stream) {
  const Plan pl = plan(p, options, false);
  if (!pl.fast) {
    return reference::na_forward(p, a, stream);
  }
  fna::Params f = base_params(p, pl.q_tile);
  f.query = a.query;
  f.key = a.key;
  f.value = a.value;
  f.rpb = a.rpb;
  f.extra_key = a.extra_key;
  f.extra_value = a.extra_value;
  f.output = a.output;
  f.lse = a.logsumexp;
  f.vec4_qk = p.head_dim % 4 == 0 && aligned16(a.query) && aligned16(a.key) && aligned16(a.extra_key);
  f.vec4_v = p.head_dim_v % 4 == 0 && aligned16(a.value) && aligned16(a.extra_value);
  f.vec4_out = p.head_dim_v % 4 == 0 && aligned16(a.output);
  return by_bucket(pl.bucket, [&](auto d) {
    return fna::run_forward<decltype(d)::value>(f, pl.precise, pl.forward_config, stream);
  });
}

size_t na_backward_workspace_bytes(const NAProblem& p) { return align256(sizeof(float) * p.lse_elems()); }

Status na_backward(const NAProblem& p, const NABackwardArgs& a, const RunOptions& options, void* workspace,
                   size_t workspace_bytes, cudaStream_t stream) {
  if (workspace_bytes < na_backward_workspace_bytes(p) || workspace == nullptr) {
    return invalid("the fused backward needs a workspace of " + std::to_string(na_backward_workspace_bytes(p)) +
                   " bytes, got " + std::to_string(workspace_bytes));
  }
  float* delta = static_cast<float*>(workspace);
  const Plan pl = plan(p, options, true);
  if (!pl.fast) {
    return reference::na_backward(p, a, delta, stream);
  }
  if (p.has_rpb) {
    NATTEN_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(a.d_rpb, 0, sizeof(float) * p.rpb_elems(), stream), "clearing dRpb");
  }
  if (p.n_extra > 0) {
    NATTEN_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(a.d_extra_key, 0, sizeof(float) * p.extra_key_elems(), stream),
                                "clearing the extra keys' gradient");
    NATTEN_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(a.d_extra_value, 0, sizeof(float) * p.extra_value_elems(), stream),
                                "clearing the extra values' gradient");
  }
  fna::Params dq = base_params(p, pl.q_tile);
  dq.query = a.query;
  dq.key = a.key;
  dq.value = a.value;
  dq.rpb = a.rpb;
  dq.extra_key = a.extra_key;
  dq.extra_value = a.extra_value;
  dq.output = const_cast<float*>(a.output);
  dq.d_output = a.d_output;
  dq.lse_in = a.logsumexp;
  dq.d_lse = a.d_logsumexp;
  dq.delta = delta;
  dq.d_query = a.d_query;
  dq.d_key = a.d_key;
  dq.d_value = a.d_value;
  dq.d_rpb = a.d_rpb;
  dq.d_extra_key = a.d_extra_key;
  dq.d_extra_value = a.d_extra_value;
  dq.vec4_qk = p.head_dim % 4 == 0 && aligned16(a.query) && aligned16(a.key) && aligned16(a.extra_key);
  dq.vec4_v = p.head_dim_v % 4 == 0 && aligned16(a.value) && aligned16(a.extra_value) && aligned16(a.d_output);
  dq.rpb_in_smem = p.has_rpb && p.rpb_volume() <= dq_rpb_smem_limit(pl.bucket, pl.precise) ? 1 : 0;
  fna::Params dkv = dq;
  const fna::Params key_tiles = base_params(p, pl.k_tile);
  for (int a3 = 0; a3 < 3; a3++) {
    dkv.tile[a3] = key_tiles.tile[a3];
    dkv.tile_shift[a3] = key_tiles.tile_shift[a3];
    dkv.tiles[a3] = key_tiles.tiles[a3];
  }
  return by_bucket(pl.bucket,
                   [&](auto d) { return fna::run_backward<decltype(d)::value>(dq, dkv, pl.precise, stream); });
}

namespace {

// A split op: its reference kernels when asked for, its memory-bound kernels otherwise.
template <class Args>
Status split_op(Status (*reference_op)(const NAProblem&, const Args&, cudaStream_t),
                Status (*fast_op)(const NAProblem&, const Args&, cudaStream_t), const NAProblem& p, const Args& a,
                const RunOptions& o, cudaStream_t stream) {
  return (o.implementation == Implementation::kReference ? reference_op : fast_op)(p, a, stream);
}

}  // namespace

Status qk_forward(const NAProblem& p, const QKForwardArgs& a, const RunOptions& o, cudaStream_t stream) {
  return split_op(reference::qk_forward, split::qk_forward, p, a, o, stream);
}

Status qk_backward(const NAProblem& p, const QKBackwardArgs& a, const RunOptions& o, cudaStream_t stream) {
  return split_op(reference::qk_backward, split::qk_backward, p, a, o, stream);
}

Status av_forward(const NAProblem& p, const AVForwardArgs& a, const RunOptions& o, cudaStream_t stream) {
  return split_op(reference::av_forward, split::av_forward, p, a, o, stream);
}

Status av_backward(const NAProblem& p, const AVBackwardArgs& a, const RunOptions& o, cudaStream_t stream) {
  return split_op(reference::av_backward, split::av_backward, p, a, o, stream);
}

std::string describe_fused(const NAProblem& p, const RunOptions& options) {
  const Plan pl = plan(p, options, false);
  if (!pl.fast) {
    return "reference (" + pl.why + ")";
  }
  const ForwardConfig fc = kForwardConfigs[pl.forward_config];
  return "fast hdim " + std::to_string(pl.bucket) + (pl.precise ? " float32" : " tf32") + " tile " +
         std::to_string(pl.q_tile[0]) + "x" + std::to_string(pl.q_tile[1]) + "x" + std::to_string(pl.q_tile[2]) +
         " fwd config " + std::to_string(pl.forward_config) + " (" + std::to_string(fc.warps) + " warps, " +
         std::to_string(fc.block_n) + " keys" +
         (fc.min_blocks > 0 ? ", " + std::to_string(fc.min_blocks) + " blocks/SM" : std::string()) +
         (fc.q_regs > 0 ? ", Q in registers" : "") + (fc.lean ? ", lean " + std::to_string(fc.lean) : std::string()) +
         (fc.tile_by_reach ? ", tile by warp reach" : "") + ")";
}

}  // namespace cuda
}  // namespace natten
