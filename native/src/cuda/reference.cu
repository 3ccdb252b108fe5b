// The reference kernels (see reference.h). Each kernel is a grid-stride loop over its output elements.
#include "reference.h"

#include <cmath>

#include "common.h"
#include "natten/na_mask.h"
#include "reference_rows.cuh"

namespace natten {
namespace cuda {
namespace reference {
namespace {

// ---------------------------------------------------------------------------------------------------------
// Fused forward.

__global__ void lse_kernel(NAProblem p, NAForwardArgs a) {
  const int64_t n_rows = p.lse_elems();
  for (int64_t row = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; row < n_rows;
       row += int64_t(gridDim.x) * blockDim.x) {
    a.logsumexp[row] = static_cast<float>(exact_lse(p, a, row));
  }
}

__global__ void output_kernel(NAProblem p, NAForwardArgs a) {
  const int dv = p.head_dim_v;
  const int64_t n = p.output_elems();
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t row = i / dv;
    a.output[i] = static_cast<float>(exact_output(p, a, row, static_cast<int>(i % dv), a.logsumexp[row]));
  }
}

// ---------------------------------------------------------------------------------------------------------
// Fused backward: dS = P * (dP - delta), delta = rowsum(dO * O) - dLse.

__global__ void delta_kernel(NAProblem p, NABackwardArgs a, float* delta) {
  const int dv = p.head_dim_v;
  for (int64_t row = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; row < p.lse_elems();
       row += int64_t(gridDim.x) * blockDim.x) {
    double s = dot(a.d_output + row * dv, a.output + row * dv, dv);
    if (a.d_logsumexp != nullptr) {
      s -= a.d_logsumexp[row];
    }
    delta[row] = static_cast<float>(s);
  }
}

__global__ void dq_kernel(NAProblem p, NABackwardArgs a, const float* delta) {
  const int d = p.head_dim;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < p.query_elems();
       i += int64_t(gridDim.x) * blockDim.x) {
    a.d_query[i] = static_cast<float>(exact_dq(p, a, delta, i / d, static_cast<int>(i % d)));
  }
}

// One thread per element of [key | value] gradient columns of one key token and key head.
__global__ void dkv_kernel(NAProblem p, NABackwardArgs a, const float* delta) {
  const int d = p.head_dim, dv = p.head_dim_v, width = d + dv;
  const int64_t n = p.batch * p.tokens() * p.heads_kv * width;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int c = static_cast<int>(i % width);
    const int64_t kr = i / width;  // (b, key_token, hkv)
    const double acc = exact_dkv(p, a, delta, kr, c);
    if (c < d) {
      a.d_key[kr * d + c] = static_cast<float>(acc);
    } else {
      a.d_value[kr * dv + c - d] = static_cast<float>(acc);
    }
  }
}

__global__ void drpb_kernel(NAProblem p, NABackwardArgs a, const float* delta) {
  const int vol = p.rpb_volume();
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < int64_t(p.heads) * vol;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int h = static_cast<int>(i / vol), entry = static_cast<int>(i % vol);
    double acc = 0;
    for_each_use_of_rpb_entry(p, entry, [&](int64_t b, int64_t qt, int64_t kt, int) {
      const GradRow row(p, a, delta, q_row(p, b, qt, h));
      const int64_t kr = kv_row(p, b, kt, row.hkv);
      acc += row.d_logit(row.prob(row.logit(kt, entry)), a.value + kr * p.head_dim_v);
    });
    a.d_rpb[i] = static_cast<float>(acc);
  }
}

__global__ void dextra_kernel(NAProblem p, NABackwardArgs a, const float* delta) {
  const int d = p.head_dim, dv = p.head_dim_v, width = d + dv;
  const int64_t n = static_cast<int64_t>(p.batch) * p.n_extra * p.heads_kv * width;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int c = static_cast<int>(i % width);
    const int64_t er = i / width;
    const ExtraRow x(p, er);
    double acc = 0;
    for_each_query_of_group(p, x.b, x.hkv, [&](int64_t qr) {
      const GradRow r(p, a, delta, qr);
      const double prob = r.prob(r.extra_logit(x.e));
      acc += c < d ? r.d_logit(prob, a.extra_value + er * dv) * r.q[c] * p.scale : prob * r.d_out[c - d];
    });
    if (c < d) {
      a.d_extra_key[er * d + c] = static_cast<float>(acc);
    } else {
      a.d_extra_value[er * dv + c - d] = static_cast<float>(acc);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Split ops. Window slot `slot` of a query: per-axis positions t (row-major, axis 0 outermost).

NATTEN_DEVICE void slot_coords(const NAProblem& p, int slot, int (&t)[3]) {
  t[2] = slot % p.kernel[2];
  t[1] = (slot / p.kernel[2]) % p.kernel[1];
  t[0] = slot / (p.kernel[2] * p.kernel[1]);
}

// The key token of window slot `slot` of the query token, or -1 for a masked slot.
NATTEN_DEVICE int64_t key_of_slot(const NAProblem& p, int64_t token, int slot, int* rpb_offset) {
  const Coords q = token_coords(p, token);
  int t[3], j[3];
  AxisWindow w[3];
  slot_coords(p, slot, t);
  for (int a = 0; a < 3; a++) {
    w[a] = axis_window(p, a, q.c[a]);
    if (t[a] >= w[a].count) {
      return -1;
    }
    j[a] = w[a].first + t[a] * p.dilation[a];
  }
  *rpb_offset = rpb_offset_of(p, w, t);
  return token_index(p, j);
}

// The split ops' three shapes of computation, each over its rows (b, token, head) or key rows (b, token, key
// head), with `dim` columns:
//   window_dot:      out[row, slot] = factor * x[row] . y[slot's key] (+ bias), `masked` in masked slots
//                    (QK forward: x query, y key; AV's dWeights: x dO, y value)
//   window_combine:  out[row, c] = factor * sum over unmasked slots of w[row, slot] * y[slot's key, c]
//                    (AV forward: w weights, y value; QK's dQuery: w dLogits, y key)
//   inverse_combine: out[key row, c] = factor * sum over the queries whose window holds the key, and the heads
//                    of its group, of w[query row, slot of the key] * y[query row, c]
//                    (QK's dKey: w dLogits, y query; AV's dValue: w weights, y dO)
// The extra tokens are slots K.. of every row.

__global__ void window_dot_kernel(NAProblem p, const float* x, const float* y, const float* y_extra, int dim,
                                  float factor, const float* rpb, float masked, float* out) {
  const int S = p.slots(), K = p.kernel_volume();
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < p.weights_elems();
       i += int64_t(gridDim.x) * blockDim.x) {
    const int slot = static_cast<int>(i % S);
    const int64_t row = i / S;
    const int h = static_cast<int>(row % p.heads), hkv = h / p.heads_per_kv();
    const int64_t token = (row / p.heads) % p.tokens(), b = row / p.heads / p.tokens();
    const float* xr = x + row * dim;
    double v;
    if (slot >= K) {
      v = factor * dot(xr, y_extra + extra_row(p, b, slot - K, hkv) * dim, dim);
    } else {
      int ro;
      const int64_t kt = key_of_slot(p, token, slot, &ro);
      if (kt < 0) {
        v = masked;
      } else {
        v = factor * dot(xr, y + kv_row(p, b, kt, hkv) * dim, dim);
        if (rpb != nullptr) {
          v += rpb[static_cast<int64_t>(h) * p.rpb_volume() + ro];
        }
      }
    }
    out[i] = static_cast<float>(v);
  }
}

__global__ void window_combine_kernel(NAProblem p, const float* w, const float* y, const float* y_extra, int dim,
                                      float factor, float* out) {
  const int S = p.slots(), K = p.kernel_volume();
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < p.lse_elems() * dim;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int c = static_cast<int>(i % dim);
    const int64_t row = i / dim;
    const int h = static_cast<int>(row % p.heads), hkv = h / p.heads_per_kv();
    const int64_t token = (row / p.heads) % p.tokens(), b = row / p.heads / p.tokens();
    const float* wr = w + row * S;
    double acc = 0;
    for_each_neighbor(p, token,
                      [&](int64_t kt, int slot, int) { acc += wr[slot] * double(y[kv_row(p, b, kt, hkv) * dim + c]); });
    for (int e = 0; e < p.n_extra; e++) {
      acc += wr[K + e] * double(y_extra[extra_row(p, b, e, hkv) * dim + c]);
    }
    out[i] = static_cast<float>(acc * factor);
  }
}

__global__ void inverse_combine_kernel(NAProblem p, const float* w, const float* y, int dim, float factor,
                                       float* out) {
  const int S = p.slots();
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < p.batch * p.tokens() * p.heads_kv * dim;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int c = static_cast<int>(i % dim);
    const int64_t kr = i / dim;
    const int hkv = static_cast<int>(kr % p.heads_kv);
    const int64_t key_token = (kr / p.heads_kv) % p.tokens(), b = kr / p.heads_kv / p.tokens();
    double acc = 0;
    for (int h = hkv * p.heads_per_kv(); h < (hkv + 1) * p.heads_per_kv(); h++) {
      for_each_query_of_key(p, key_token, [&](int64_t qt, int slot, int) {
        const int64_t qr = q_row(p, b, qt, h);
        acc += w[qr * S + slot] * double(y[qr * dim + c]);
      });
    }
    out[i] = static_cast<float>(acc * factor);
  }
}

__global__ void qk_drpb_kernel(NAProblem p, QKBackwardArgs a) {
  const int vol = p.rpb_volume(), S = p.slots();
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < int64_t(p.heads) * vol;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int h = static_cast<int>(i / vol);
    double acc = 0;
    for_each_use_of_rpb_entry(p, static_cast<int>(i % vol), [&](int64_t b, int64_t qt, int64_t, int slot) {
      acc += a.d_logits[q_row(p, b, qt, h) * S + slot];
    });
    a.d_rpb[i] = static_cast<float>(acc);
  }
}

// Gradient of extra tokens' rows: out[b, e, hkv, c] = factor * sum over the group's heads and every query
// of weights[q, h, K + e] * rows[q, h, c]; `weights` and `rows` are [batch, tokens, heads, S] and
// [batch, tokens, heads, width].
__global__ void extra_reduce_kernel(NAProblem p, const float* weights, const float* rows, int width, float factor,
                                    float* out) {
  const int S = p.slots(), K = p.kernel_volume();
  const int64_t n = static_cast<int64_t>(p.batch) * p.n_extra * p.heads_kv * width;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int c = static_cast<int>(i % width);
    const ExtraRow x(p, i / width);
    double acc = 0;
    for_each_query_of_group(p, x.b, x.hkv,
                            [&](int64_t qr) { acc += weights[qr * S + K + x.e] * double(rows[qr * width + c]); });
    out[i] = static_cast<float>(acc * factor);
  }
}

template <class Kernel, class... Args>
Status run(const char* name, Kernel kernel, int64_t n, cudaStream_t stream, Args... args) {
  NATTEN_LAUNCH(kernel, dim3(flat_blocks(n)), dim3(kFlatThreads), 0, stream, args...);
  return check_launch(name);
}

}  // namespace

Status na_forward(const NAProblem& p, const NAForwardArgs& a, cudaStream_t stream) {
  NATTEN_RETURN_IF_ERROR(run("reference lse", lse_kernel, p.lse_elems(), stream, p, a));
  return run("reference output", output_kernel, p.output_elems(), stream, p, a);
}

Status na_backward(const NAProblem& p, const NABackwardArgs& a, float* delta, cudaStream_t stream) {
  NATTEN_RETURN_IF_ERROR(run("reference delta", delta_kernel, p.lse_elems(), stream, p, a, delta));
  NATTEN_RETURN_IF_ERROR(run("reference dq", dq_kernel, p.query_elems(), stream, p, a,
                             static_cast<const float*>(delta)));
  NATTEN_RETURN_IF_ERROR(run("reference dk dv", dkv_kernel, p.key_elems() + p.value_elems(), stream, p, a,
                             static_cast<const float*>(delta)));
  if (p.has_rpb) {
    NATTEN_RETURN_IF_ERROR(run("reference drpb", drpb_kernel, p.rpb_elems(), stream, p, a,
                               static_cast<const float*>(delta)));
  }
  if (p.n_extra > 0) {
    NATTEN_RETURN_IF_ERROR(run("reference d extra", dextra_kernel, p.extra_key_elems() + p.extra_value_elems(),
                               stream, p, a, static_cast<const float*>(delta)));
  }
  return Status{};
}

Status qk_forward(const NAProblem& p, const QKForwardArgs& a, cudaStream_t stream) {
  return run("reference qk", window_dot_kernel, p.weights_elems(), stream, p, a.query, a.key, a.extra_key,
             p.head_dim, p.scale, p.has_rpb ? a.rpb : nullptr, -INFINITY, a.logits);
}

Status qk_backward(const NAProblem& p, const QKBackwardArgs& a, cudaStream_t stream) {
  NATTEN_RETURN_IF_ERROR(run("reference qk dq", window_combine_kernel, p.query_elems(), stream, p, a.d_logits, a.key,
                             a.extra_key, p.head_dim, p.scale, a.d_query));
  NATTEN_RETURN_IF_ERROR(run("reference qk dk", inverse_combine_kernel, p.key_elems(), stream, p, a.d_logits, a.query,
                             p.head_dim, p.scale, a.d_key));
  if (p.has_rpb) {
    NATTEN_RETURN_IF_ERROR(run("reference qk drpb", qk_drpb_kernel, p.rpb_elems(), stream, p, a));
  }
  if (p.n_extra > 0) {
    NATTEN_RETURN_IF_ERROR(run("reference qk d extra", extra_reduce_kernel, p.extra_key_elems(), stream, p,
                               a.d_logits, a.query, p.head_dim, p.scale, a.d_extra_key));
  }
  return Status{};
}

Status av_forward(const NAProblem& p, const AVForwardArgs& a, cudaStream_t stream) {
  return run("reference av", window_combine_kernel, p.output_elems(), stream, p, a.weights, a.value, a.extra_value,
             p.head_dim_v, 1.f, a.output);
}

Status av_backward(const NAProblem& p, const AVBackwardArgs& a, cudaStream_t stream) {
  NATTEN_RETURN_IF_ERROR(run("reference av dweights", window_dot_kernel, p.weights_elems(), stream, p, a.d_output,
                             a.value, a.extra_value, p.head_dim_v, 1.f, static_cast<const float*>(nullptr), 0.f,
                             a.d_weights));
  NATTEN_RETURN_IF_ERROR(run("reference av dv", inverse_combine_kernel, p.value_elems(), stream, p, a.weights,
                             a.d_output, p.head_dim_v, 1.f, a.d_value));
  if (p.n_extra > 0) {
    NATTEN_RETURN_IF_ERROR(run("reference av d extra", extra_reduce_kernel, p.extra_value_elems(), stream, p,
                               a.weights, a.d_output, p.head_dim_v, 1.0f, a.d_extra_value));
  }
  return Status{};
}

}  // namespace reference
}  // namespace cuda
}  // namespace natten
