// The split ops' kernels (see na_split.h).
#include "na_split.h"

#include <cmath>

#include "common.h"
#include "natten/na_mask.h"

namespace natten {
namespace cuda {
namespace split {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
#if defined(NATTEN_EMULATION)
constexpr int64_t kMaxBlocks = 2;
#else
constexpr int64_t kMaxBlocks = int64_t(1) << 16;
#endif

// The window of a query token on the three axes.
struct Windows {
  AxisWindow w[3];
  NATTEN_DEVICE Windows(const NAProblem& p, int64_t token) {
    int c[3];
    c[2] = static_cast<int>(token % p.length[2]);
    c[1] = static_cast<int>((token / p.length[2]) % p.length[1]);
    c[0] = static_cast<int>(token / p.length[2] / p.length[1]);
    for (int a = 0; a < 3; a++) {
      w[a] = get_axis_window(c[a], p.length[a], p.kernel[a], p.stride[a], p.dilation[a], p.causal[a]);
    }
  }
  // Key token and rpb offset of window slot `slot`; false for a masked slot.
  NATTEN_DEVICE bool key(const NAProblem& p, int slot, int64_t* key_token, int* rpb_offset) const {
    int t[3];
    t[2] = slot % p.kernel[2];
    t[1] = (slot / p.kernel[2]) % p.kernel[1];
    t[0] = slot / (p.kernel[2] * p.kernel[1]);
    if (t[0] >= w[0].count || t[1] >= w[1].count || t[2] >= w[2].count) {
      return false;
    }
    *key_token = (static_cast<int64_t>(w[0].first + t[0] * p.dilation[0]) * p.length[1] + w[1].first +
                  t[1] * p.dilation[1]) * p.length[2] + w[2].first + t[2] * p.dilation[2];
    *rpb_offset = ((w[0].rpb_base + t[0]) * p.rpb_extent(1) + w[1].rpb_base + t[1]) * p.rpb_extent(2) +
                  w[2].rpb_base + t[2];
    return true;
  }
};

NATTEN_DEVICE float dot(const float* x, const float* y, int n) {
  float s = 0.f;
  for (int i = 0; i < n; i++) {
    s += x[i] * y[i];
  }
  return s;
}

// out[row, slot] for every slot of every query row (b, token, h): `x_row` . `y` of the slot's key (or extra
// token), times `factor`, plus the bias when `rpb` is given; masked slots get `masked`. One warp per row,
// lanes over slots. QK forward (x = query, y = key) and AV's dWeights (x = dO, y = value).
__global__ void __launch_bounds__(kThreads) window_dot_kernel(NAProblem p, const float* x, const float* y,
                                                               const float* y_extra, int dim, float factor,
                                                               const float* rpb, float masked, float* out) {
  const int S = p.slots(), K = p.kernel_volume();
  const int64_t rows = p.lse_elems();
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * kWarps + (threadIdx.x >> 5); row < rows;
       row += static_cast<int64_t>(gridDim.x) * kWarps) {
    const int h = static_cast<int>(row % p.heads), hkv = h / p.heads_per_kv();
    const int64_t b = row / p.heads / p.tokens(), token = (row / p.heads) % p.tokens();
    const Windows win(p, token);
    const float* xr = x + row * dim;
    for (int slot = threadIdx.x & 31; slot < S; slot += 32) {
      float v;
      if (slot >= K) {
        v = factor * dot(xr, y_extra + ((b * p.n_extra + slot - K) * p.heads_kv + hkv) * dim, dim);
      } else {
        int64_t kt;
        int ro;
        if (win.key(p, slot, &kt, &ro)) {
          v = factor * dot(xr, y + ((b * p.tokens() + kt) * p.heads_kv + hkv) * dim, dim);
          if (rpb != nullptr) {
            v += rpb[static_cast<int64_t>(h) * p.rpb_volume() + ro];
          }
        } else {
          v = masked;
        }
      }
      out[row * S + slot] = v;
    }
  }
}

// out[row, c] = factor * sum over unmasked slots of w[row, slot] * y[slot's key, c] (plus the extra tokens).
// One warp per row, lanes over columns. AV forward (w = weights, y = value) and QK's dQuery (w = dLogits,
// y = key, factor = scale).
__global__ void __launch_bounds__(kThreads) window_combine_kernel(NAProblem p, const float* w, const float* y,
                                                                   const float* y_extra, int dim, float factor,
                                                                   float* out) {
  const int S = p.slots(), K = p.kernel_volume();
  const int64_t rows = p.lse_elems();
  const int lane = threadIdx.x & 31;
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * kWarps + (threadIdx.x >> 5); row < rows;
       row += static_cast<int64_t>(gridDim.x) * kWarps) {
    const int h = static_cast<int>(row % p.heads), hkv = h / p.heads_per_kv();
    const int64_t b = row / p.heads / p.tokens(), token = (row / p.heads) % p.tokens();
    const Windows win(p, token);
    const float* wr = w + row * S;
    for (int c0 = 0; c0 < dim; c0 += 32) {
      const int c = c0 + lane;
      float acc = 0.f;
      for (int slot = 0; slot < K; slot++) {
        int64_t kt;
        int ro;
        if (win.key(p, slot, &kt, &ro)) {
          const float weight = wr[slot];
          if (c < dim) {
            acc += weight * y[((b * p.tokens() + kt) * p.heads_kv + hkv) * dim + c];
          }
        }
      }
      for (int e = 0; e < p.n_extra; e++) {
        const float weight = wr[K + e];
        if (c < dim) {
          acc += weight * y_extra[((b * p.n_extra + e) * p.heads_kv + hkv) * dim + c];
        }
      }
      if (c < dim) {
        out[row * dim + c] = acc * factor;
      }
    }
  }
}

// out[key row, c] = factor * sum over the group's heads and the queries whose window holds the key of
// w[query row, slot of the key] * y[query row, c]: the inverse neighborhood, one warp per key row (b, key
// token, key head). QK's dKey (w = dLogits, y = query, factor = scale) and AV's dValue (w = weights, y = dO).
__global__ void __launch_bounds__(kThreads) inverse_combine_kernel(NAProblem p, const float* w, const float* y,
                                                                    int dim, float factor, float* out) {
  const int S = p.slots();
  const int64_t rows = p.batch * p.tokens() * p.heads_kv;
  const int lane = threadIdx.x & 31;
  for (int64_t kr = static_cast<int64_t>(blockIdx.x) * kWarps + (threadIdx.x >> 5); kr < rows;
       kr += static_cast<int64_t>(gridDim.x) * kWarps) {
    const int hkv = static_cast<int>(kr % p.heads_kv);
    const int64_t key_token = (kr / p.heads_kv) % p.tokens(), b = kr / p.heads_kv / p.tokens();
    int jc[3], g[3], jh[3], lg[3];
    jc[2] = static_cast<int>(key_token % p.length[2]);
    jc[1] = static_cast<int>((key_token / p.length[2]) % p.length[1]);
    jc[0] = static_cast<int>(key_token / p.length[2] / p.length[1]);
    Range q[3];
    for (int a = 0; a < 3; a++) {
      g[a] = get_dilation_group(jc[a], p.dilation[a]);
      jh[a] = (jc[a] - g[a]) / p.dilation[a];
      lg[a] = get_group_length(p.length[a], p.dilation[a], g[a]);
      q[a] = get_inverse_neighborhood(jh[a], jh[a] + 1, p.kernel[a], p.stride[a], lg[a], p.causal[a]);
    }
    for (int c0 = 0; c0 < dim; c0 += 32) {
      const int c = c0 + lane;
      float acc = 0.f;
      for (int i0 = q[0].lo; i0 < q[0].hi; i0++) {
        const int t0 = jh[0] - get_window_start(i0, p.kernel[0], p.stride[0], lg[0], p.causal[0]);
        for (int i1 = q[1].lo; i1 < q[1].hi; i1++) {
          const int t1 = jh[1] - get_window_start(i1, p.kernel[1], p.stride[1], lg[1], p.causal[1]);
          for (int i2 = q[2].lo; i2 < q[2].hi; i2++) {
            const int t2 = jh[2] - get_window_start(i2, p.kernel[2], p.stride[2], lg[2], p.causal[2]);
            const int slot = (t0 * p.kernel[1] + t1) * p.kernel[2] + t2;
            const int64_t qt = (static_cast<int64_t>(i0 * p.dilation[0] + g[0]) * p.length[1] +
                                i1 * p.dilation[1] + g[1]) * p.length[2] + i2 * p.dilation[2] + g[2];
            for (int h = hkv * p.heads_per_kv(); h < (hkv + 1) * p.heads_per_kv(); h++) {
              const int64_t qr = (b * p.tokens() + qt) * p.heads + h;
              const float weight = w[qr * S + slot];
              if (c < dim) {
                acc += weight * y[qr * dim + c];
              }
            }
          }
        }
      }
      if (c < dim) {
        out[kr * dim + c] = acc * factor;
      }
    }
  }
}

// out[b, e, hkv, c] += factor * sum over the group's heads and a share of the queries of
// w[query row, K + e] * y[query row, c]: blocks split the queries; each warp sums its queries for 32
// columns, then adds them with one atomic per column (`out` zeroed first).
__global__ void __launch_bounds__(kThreads) extra_reduce_kernel(NAProblem p, const float* w, const float* y, int dim,
                                                                 float factor, int queries_per_block, float* out) {
  const int S = p.slots(), K = p.kernel_volume();
  const int col_blocks = (dim + 31) / 32;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int c = (blockIdx.y % col_blocks) * 32 + lane;
  const int hkv = static_cast<int>((blockIdx.y / col_blocks) % p.heads_kv);
  const int e = static_cast<int>(blockIdx.y / col_blocks / p.heads_kv);
  const int64_t b = blockIdx.z;
  const int64_t q_begin = static_cast<int64_t>(blockIdx.x) * queries_per_block;
  const int64_t q_end = q_begin + queries_per_block < p.tokens() ? q_begin + queries_per_block : p.tokens();
  float acc = 0.f;
  for (int64_t qt = q_begin + warp; qt < q_end; qt += kWarps) {
    for (int h = hkv * p.heads_per_kv(); h < (hkv + 1) * p.heads_per_kv(); h++) {
      const int64_t qr = (b * p.tokens() + qt) * p.heads + h;
      const float weight = w[qr * S + K + e];
      if (c < dim) {
        acc += weight * y[qr * dim + c];
      }
    }
  }
  if (c < dim) {
    atomicAdd(out + ((b * p.n_extra + e) * p.heads_kv + hkv) * dim + c, acc * factor);
  }
}

// dRpb[h, entry] = sum of dLogits over every (batch, query, slot) whose bias is that entry: one block per
// (block of query tokens, head, batch), lanes over slots, summed in shared memory when one head's rpb fits
// (`smem_rpb`), else straight into global memory; then one atomic per nonzero entry.
__global__ void __launch_bounds__(kThreads) rpb_grad_kernel(NAProblem p, const float* d_logits,
                                                             int queries_per_block, int smem_rpb, float* d_rpb) {
  const int S = p.slots(), K = p.kernel_volume(), vol = p.rpb_volume();
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int h = blockIdx.y;
  const int64_t b = blockIdx.z;
  float* acc = smem_rpb ? dev::dynamic_smem<float>() : d_rpb + static_cast<int64_t>(h) * vol;
  if (smem_rpb) {
    for (int i = threadIdx.x; i < vol; i += kThreads) {
      acc[i] = 0.f;
    }
    __syncthreads();
  }
  const int64_t q_begin = static_cast<int64_t>(blockIdx.x) * queries_per_block;
  const int64_t q_end = q_begin + queries_per_block < p.tokens() ? q_begin + queries_per_block : p.tokens();
  for (int64_t qt = q_begin + warp; qt < q_end; qt += kWarps) {
    const Windows win(p, qt);
    const float* dl = d_logits + ((b * p.tokens() + qt) * p.heads + h) * S;
    for (int slot = lane; slot < K; slot += 32) {
      int64_t kt;
      int ro;
      if (win.key(p, slot, &kt, &ro)) {
        atomicAdd(acc + ro, dl[slot]);
      }
    }
  }
  if (smem_rpb) {
    __syncthreads();
    float* out = d_rpb + static_cast<int64_t>(h) * vol;
    for (int i = threadIdx.x; i < vol; i += kThreads) {
      if (acc[i] != 0.f) {
        atomicAdd(out + i, acc[i]);
      }
    }
  }
}

unsigned row_blocks(int64_t rows) {
  const int64_t blocks = (rows + kWarps - 1) / kWarps;
  return static_cast<unsigned>(blocks < kMaxBlocks ? (blocks > 0 ? blocks : 1) : kMaxBlocks);
}

constexpr int kQueriesPerBlock = 512;
constexpr int kMaxSmemRpbFloats = 12 * 1024;  // 48 KB: no opt-in needed

Status extra_reduce(const NAProblem& p, const float* w, const float* y, int dim, float factor, float* out,
                    cudaStream_t stream) {
  NATTEN_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(out, 0, sizeof(float) * p.batch * p.n_extra * p.heads_kv * dim, stream),
                              "clearing the extra tokens' gradient");
  const dim3 grid(static_cast<unsigned>((p.tokens() + kQueriesPerBlock - 1) / kQueriesPerBlock),
                  static_cast<unsigned>(p.n_extra * p.heads_kv * ((dim + 31) / 32)), p.batch);
  NATTEN_LAUNCH(extra_reduce_kernel, grid, dim3(kThreads), 0, stream, p, w, y, dim, factor, kQueriesPerBlock, out);
  return check_launch("split extra-token reduction");
}

}  // namespace

Status qk_forward(const NAProblem& p, const QKForwardArgs& a, cudaStream_t stream) {
  NATTEN_LAUNCH(window_dot_kernel, dim3(row_blocks(p.lse_elems())), dim3(kThreads), 0, stream, p, a.query, a.key,
                a.extra_key, p.head_dim, p.scale, p.has_rpb ? a.rpb : nullptr, -INFINITY, a.logits);
  return check_launch("qk forward");
}

Status qk_backward(const NAProblem& p, const QKBackwardArgs& a, cudaStream_t stream) {
  NATTEN_LAUNCH(window_combine_kernel, dim3(row_blocks(p.lse_elems())), dim3(kThreads), 0, stream, p, a.d_logits,
                a.key, a.extra_key, p.head_dim, p.scale, a.d_query);
  NATTEN_RETURN_IF_ERROR(check_launch("qk backward dq"));
  NATTEN_LAUNCH(inverse_combine_kernel, dim3(row_blocks(p.batch * p.tokens() * p.heads_kv)), dim3(kThreads), 0,
                stream, p, a.d_logits, a.query, p.head_dim, p.scale, a.d_key);
  NATTEN_RETURN_IF_ERROR(check_launch("qk backward dk"));
  if (p.has_rpb) {
    NATTEN_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(a.d_rpb, 0, sizeof(float) * p.rpb_elems(), stream), "clearing dRpb");
    const int smem_rpb = p.rpb_volume() <= kMaxSmemRpbFloats ? 1 : 0;
    const dim3 grid(static_cast<unsigned>((p.tokens() + kQueriesPerBlock - 1) / kQueriesPerBlock), p.heads, p.batch);
    NATTEN_LAUNCH(rpb_grad_kernel, grid, dim3(kThreads), smem_rpb ? sizeof(float) * p.rpb_volume() : 0, stream, p,
                  a.d_logits, kQueriesPerBlock, smem_rpb, a.d_rpb);
    NATTEN_RETURN_IF_ERROR(check_launch("qk backward drpb"));
  }
  if (p.n_extra > 0) {
    NATTEN_RETURN_IF_ERROR(extra_reduce(p, a.d_logits, a.query, p.head_dim, p.scale, a.d_extra_key, stream));
  }
  return Status{};
}

Status av_forward(const NAProblem& p, const AVForwardArgs& a, cudaStream_t stream) {
  NATTEN_LAUNCH(window_combine_kernel, dim3(row_blocks(p.lse_elems())), dim3(kThreads), 0, stream, p, a.weights,
                a.value, a.extra_value, p.head_dim_v, 1.f, a.output);
  return check_launch("av forward");
}

Status av_backward(const NAProblem& p, const AVBackwardArgs& a, cudaStream_t stream) {
  NATTEN_LAUNCH(window_dot_kernel, dim3(row_blocks(p.lse_elems())), dim3(kThreads), 0, stream, p, a.d_output,
                a.value, a.extra_value, p.head_dim_v, 1.f, static_cast<const float*>(nullptr), 0.f, a.d_weights);
  NATTEN_RETURN_IF_ERROR(check_launch("av backward dweights"));
  NATTEN_LAUNCH(inverse_combine_kernel, dim3(row_blocks(p.batch * p.tokens() * p.heads_kv)), dim3(kThreads), 0,
                stream, p, a.weights, a.d_output, p.head_dim_v, 1.f, a.d_value);
  NATTEN_RETURN_IF_ERROR(check_launch("av backward dv"));
  if (p.n_extra > 0) {
    NATTEN_RETURN_IF_ERROR(extra_reduce(p, a.weights, a.d_output, p.head_dim_v, 1.f, a.d_extra_value, stream));
  }
  return Status{};
}

}  // namespace split
}  // namespace cuda
}  // namespace natten
