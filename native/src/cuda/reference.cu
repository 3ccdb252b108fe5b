// The reference kernels (see reference.h). Each kernel is a grid-stride loop over its output elements.
#include "reference.h"

#include <cmath>

#include "common.h"
#include "natten/na_mask.h"

namespace natten {
namespace cuda {
namespace reference {
namespace {

struct Coords {
  int c[3];
};

NATTEN_DEVICE Coords token_coords(const NAProblem& p, int64_t token) {
  Coords x;
  x.c[2] = static_cast<int>(token % p.length[2]);
  const int64_t rest = token / p.length[2];
  x.c[1] = static_cast<int>(rest % p.length[1]);
  x.c[0] = static_cast<int>(rest / p.length[1]);
  return x;
}

NATTEN_DEVICE int64_t token_index(const NAProblem& p, const int (&c)[3]) {
  return (static_cast<int64_t>(c[0]) * p.length[1] + c[1]) * p.length[2] + c[2];
}

NATTEN_DEVICE AxisWindow axis_window(const NAProblem& p, int axis, int i) {
  return get_axis_window(i, p.length[axis], p.kernel[axis], p.stride[axis], p.dilation[axis], p.causal[axis]);
}

NATTEN_DEVICE bool axis_neighbor(const NAProblem& p, int axis, int i, int j) {
  return is_neighbor(i, j, p.length[axis], p.kernel[axis], p.stride[axis], p.dilation[axis], p.causal[axis]);
}

NATTEN_DEVICE double dot(const float* x, const float* y, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) {
    s += static_cast<double>(x[i]) * static_cast<double>(y[i]);
  }
  return s;
}

// Slot (row-major over the window) and rpb offset (within one head's block) of window position t.
NATTEN_DEVICE int slot_of(const NAProblem& p, const int (&t)[3]) {
  return (t[0] * p.kernel[1] + t[1]) * p.kernel[2] + t[2];
}

NATTEN_DEVICE int rpb_offset_of(const NAProblem& p, const AxisWindow (&w)[3], const int (&t)[3]) {
  return ((w[0].rpb_base + t[0]) * p.rpb_extent(1) + w[1].rpb_base + t[1]) * p.rpb_extent(2) + w[2].rpb_base + t[2];
}

// Calls f(key_token, slot, rpb_offset) for every neighbor of the query token, in slot order.
template <class F>
NATTEN_DEVICE void for_each_neighbor(const NAProblem& p, int64_t token, F&& f) {
  const Coords q = token_coords(p, token);
  AxisWindow w[3];
  for (int a = 0; a < 3; a++) {
    w[a] = axis_window(p, a, q.c[a]);
  }
  int t[3];
  for (t[0] = 0; t[0] < w[0].count; t[0]++) {
    for (t[1] = 0; t[1] < w[1].count; t[1]++) {
      for (t[2] = 0; t[2] < w[2].count; t[2]++) {
        int j[3];
        for (int a = 0; a < 3; a++) {
          j[a] = w[a].first + t[a] * p.dilation[a];
        }
        f(token_index(p, j), slot_of(p, t), rpb_offset_of(p, w, t));
      }
    }
  }
}

// Calls f(query_token, slot, rpb_offset) for every query token whose window holds the key token, trying
// every query coordinate with is_neighbor, axis by axis.
template <class F>
NATTEN_DEVICE void for_each_query_of_key(const NAProblem& p, int64_t key_token, F&& f) {
  const Coords k = token_coords(p, key_token);
  int i[3];
  for (i[0] = 0; i[0] < p.length[0]; i[0]++) {
    if (!axis_neighbor(p, 0, i[0], k.c[0])) {
      continue;
    }
    for (i[1] = 0; i[1] < p.length[1]; i[1]++) {
      if (!axis_neighbor(p, 1, i[1], k.c[1])) {
        continue;
      }
      for (i[2] = 0; i[2] < p.length[2]; i[2]++) {
        if (!axis_neighbor(p, 2, i[2], k.c[2])) {
          continue;
        }
        AxisWindow w[3];
        int t[3];
        for (int a = 0; a < 3; a++) {
          w[a] = axis_window(p, a, i[a]);
          t[a] = (k.c[a] - w[a].first) / p.dilation[a];
        }
        f(token_index(p, i), slot_of(p, t), rpb_offset_of(p, w, t));
      }
    }
  }
}

// The key token at relative-position-bias entry r (per-axis indices) of query token `token`, with its slot,
// or -1 when that entry is not a neighbor of the query.
NATTEN_DEVICE int64_t key_at_rpb_entry(const NAProblem& p, int64_t token, const int (&r)[3], int* slot) {
  const Coords q = token_coords(p, token);
  int j[3], t[3];
  for (int a = 0; a < 3; a++) {
    j[a] = q.c[a] + (r[a] - (p.kernel[a] - 1)) * p.dilation[a];
    if (j[a] < 0 || j[a] >= p.length[a] || !axis_neighbor(p, a, q.c[a], j[a])) {
      return -1;
    }
    t[a] = (j[a] - axis_window(p, a, q.c[a]).first) / p.dilation[a];
  }
  *slot = slot_of(p, t);
  return token_index(p, j);
}

NATTEN_DEVICE void rpb_entry_coords(const NAProblem& p, int r, int (&c)[3]) {
  c[2] = r % p.rpb_extent(2);
  c[1] = (r / p.rpb_extent(2)) % p.rpb_extent(1);
  c[0] = r / (p.rpb_extent(2) * p.rpb_extent(1));
}

// Calls f(b, query_token, key_token, slot) for every (batch, query) whose window holds the key at relative
// position bias entry `entry` (an offset within one head's block): the uses of that entry's bias.
template <class F>
NATTEN_DEVICE void for_each_use_of_rpb_entry(const NAProblem& p, int entry, F&& f) {
  int r[3];
  rpb_entry_coords(p, entry, r);
  for (int64_t b = 0; b < p.batch; b++) {
    for (int64_t qt = 0; qt < p.tokens(); qt++) {
      int slot;
      const int64_t kt = key_at_rpb_entry(p, qt, r, &slot);
      if (kt >= 0) {
        f(b, qt, kt, slot);
      }
    }
  }
}

// Row offsets (in elements / dim) of the [batch, tokens, heads, dim] tensors.
NATTEN_DEVICE int64_t q_row(const NAProblem& p, int64_t b, int64_t token, int h) {
  return (b * p.tokens() + token) * p.heads + h;
}
NATTEN_DEVICE int64_t kv_row(const NAProblem& p, int64_t b, int64_t token, int hkv) {
  return (b * p.tokens() + token) * p.heads_kv + hkv;
}
NATTEN_DEVICE int64_t extra_row(const NAProblem& p, int64_t b, int e, int hkv) {
  return (b * p.n_extra + e) * p.heads_kv + hkv;
}

// Calls f(query row) for every query row (every token, every head of the group of key head hkv) of batch b.
template <class F>
NATTEN_DEVICE void for_each_query_of_group(const NAProblem& p, int64_t b, int hkv, F&& f) {
  for (int h = hkv * p.heads_per_kv(); h < (hkv + 1) * p.heads_per_kv(); h++) {
    for (int64_t qt = 0; qt < p.tokens(); qt++) {
      f(q_row(p, b, qt, h));
    }
  }
}

// The extra token, key head and batch of extra row `er` ([batch, n_extra, heads_kv] flattened).
struct ExtraRow {
  int64_t b;
  int e, hkv;
  NATTEN_DEVICE ExtraRow(const NAProblem& p, int64_t er)
      : b(er / p.heads_kv / p.n_extra), e(static_cast<int>((er / p.heads_kv) % p.n_extra)),
        hkv(static_cast<int>(er % p.heads_kv)) {}
};

// One query row (b, token, h) of the fused op, with the logits and probabilities of its neighbors.
struct QueryRow {
  const NAProblem* p;
  const float* query;
  const float* key;
  const float* rpb;
  const float* extra_key;
  int64_t b;
  int h, hkv;
  const float* q;

  NATTEN_DEVICE QueryRow(const NAProblem& problem, const float* query_, const float* key_, const float* rpb_,
                         const float* extra_key_, int64_t row)
      : p(&problem), query(query_), key(key_), rpb(rpb_), extra_key(extra_key_) {
    h = static_cast<int>(row % problem.heads);
    b = row / problem.heads / problem.tokens();
    hkv = h / problem.heads_per_kv();
    q = query_ + row * problem.head_dim;
  }
  NATTEN_DEVICE double logit(int64_t key_token, int rpb_offset) const {
    double s = p->scale * dot(q, key + kv_row(*p, b, key_token, hkv) * p->head_dim, p->head_dim);
    if (rpb != nullptr) {
      s += rpb[static_cast<int64_t>(h) * p->rpb_volume() + rpb_offset];
    }
    return s;
  }
  NATTEN_DEVICE double extra_logit(int e) const {
    return p->scale * dot(q, extra_key + extra_row(*p, b, e, hkv) * p->head_dim, p->head_dim);
  }
};

// ---------------------------------------------------------------------------------------------------------
// Fused forward.

__global__ void lse_kernel(NAProblem p, NAForwardArgs a) {
  const int64_t n_rows = p.lse_elems();
  for (int64_t row = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; row < n_rows;
       row += int64_t(gridDim.x) * blockDim.x) {
    const QueryRow r(p, a.query, a.key, a.rpb, a.extra_key, row);
    const int64_t token = (row / p.heads) % p.tokens();
    double m = -INFINITY;
    for_each_neighbor(p, token, [&](int64_t kt, int, int ro) { m = fmax(m, r.logit(kt, ro)); });
    for (int e = 0; e < p.n_extra; e++) {
      m = fmax(m, r.extra_logit(e));
    }
    double s = 0;
    for_each_neighbor(p, token, [&](int64_t kt, int, int ro) { s += exp(r.logit(kt, ro) - m); });
    for (int e = 0; e < p.n_extra; e++) {
      s += exp(r.extra_logit(e) - m);
    }
    a.logsumexp[row] = static_cast<float>(m + log(s));
  }
}

__global__ void output_kernel(NAProblem p, NAForwardArgs a) {
  const int dv = p.head_dim_v;
  const int64_t n = p.output_elems();
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int c = static_cast<int>(i % dv);
    const int64_t row = i / dv;
    const QueryRow r(p, a.query, a.key, a.rpb, a.extra_key, row);
    const int64_t token = (row / p.heads) % p.tokens();
    const double lse = a.logsumexp[row];
    double acc = 0;
    for_each_neighbor(p, token, [&](int64_t kt, int, int ro) {
      acc += exp(r.logit(kt, ro) - lse) * a.value[kv_row(p, r.b, kt, r.hkv) * dv + c];
    });
    for (int e = 0; e < p.n_extra; e++) {
      acc += exp(r.extra_logit(e) - lse) * a.extra_value[extra_row(p, r.b, e, r.hkv) * dv + c];
    }
    a.output[i] = static_cast<float>(acc);
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

struct GradRow : QueryRow {
  const float* d_out;
  double lse, delta;
  NATTEN_DEVICE GradRow(const NAProblem& problem, const NABackwardArgs& a, const float* delta_, int64_t row)
      : QueryRow(problem, a.query, a.key, a.rpb, a.extra_key, row) {
    d_out = a.d_output + row * problem.head_dim_v;
    lse = a.logsumexp[row];
    delta = delta_[row];
  }
  NATTEN_DEVICE double prob(double logit) const { return exp(logit - lse); }
  NATTEN_DEVICE double d_logit(double prob, const float* value_row) const {
    return prob * (dot(d_out, value_row, p->head_dim_v) - delta);
  }
};

__global__ void dq_kernel(NAProblem p, NABackwardArgs a, const float* delta) {
  const int d = p.head_dim;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < p.query_elems();
       i += int64_t(gridDim.x) * blockDim.x) {
    const int c = static_cast<int>(i % d);
    const int64_t row = i / d;
    const GradRow r(p, a, delta, row);
    const int64_t token = (row / p.heads) % p.tokens();
    double acc = 0;
    for_each_neighbor(p, token, [&](int64_t kt, int, int ro) {
      const int64_t kr = kv_row(p, r.b, kt, r.hkv);
      acc += r.d_logit(r.prob(r.logit(kt, ro)), a.value + kr * p.head_dim_v) * a.key[kr * d + c];
    });
    for (int e = 0; e < p.n_extra; e++) {
      const int64_t er = extra_row(p, r.b, e, r.hkv);
      acc += r.d_logit(r.prob(r.extra_logit(e)), a.extra_value + er * p.head_dim_v) * a.extra_key[er * d + c];
    }
    a.d_query[i] = static_cast<float>(acc * p.scale);
  }
}

// One thread per element of [key | value] gradient columns of one key token and key head.
__global__ void dkv_kernel(NAProblem p, NABackwardArgs a, const float* delta) {
  const int d = p.head_dim, dv = p.head_dim_v, width = d + dv;
  const int64_t n = p.batch * p.tokens() * p.heads_kv * width;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int c = static_cast<int>(i % width);
    const int64_t kr = i / width;  // (b, key_token, hkv)
    const int hkv = static_cast<int>(kr % p.heads_kv);
    const int64_t key_token = (kr / p.heads_kv) % p.tokens();
    const int64_t b = kr / p.heads_kv / p.tokens();
    double acc = 0;
    for (int h = hkv * p.heads_per_kv(); h < (hkv + 1) * p.heads_per_kv(); h++) {
      for_each_query_of_key(p, key_token, [&](int64_t qt, int, int ro) {
        const GradRow r(p, a, delta, q_row(p, b, qt, h));
        const double prob = r.prob(r.logit(key_token, ro));
        acc += c < d ? r.d_logit(prob, a.value + kr * dv) * r.q[c] * p.scale : prob * r.d_out[c - d];
      });
    }
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
