// The reference's walk over the spec, per query row (natten/na_mask.h's per-axis functions, every sum in double):
// shared by the reference kernels (reference.cu) and the fast kernels' exact redo of rows that came out non-finite
// (fna_forward.cuh, redo_forward_row; fna_backward.cuh, redo_grad_row).
#pragma once

#include <cmath>

#include "common.h"
#include "natten/na_mask.h"

namespace natten {
namespace cuda {
namespace reference {

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

// The logsumexp of query row `row` ([batch, tokens, heads] flattened), as the spec has it: the maximum logit over
// the window and the extra tokens, then the log of the sum of exp(logit - maximum). NaN as soon as a logit is NaN
// (fmax would skip it; the sum would not).
NATTEN_DEVICE double exact_lse(const NAProblem& p, const NAForwardArgs& a, int64_t row) {
  const QueryRow r(p, a.query, a.key, a.rpb, a.extra_key, row);
  const int64_t token = (row / p.heads) % p.tokens();
  double m = -INFINITY;
  bool nan = false;
  for_each_neighbor(p, token, [&](int64_t kt, int, int ro) {
    const double s = r.logit(kt, ro);
    nan = nan || std::isnan(s);
    m = fmax(m, s);
  });
  for (int e = 0; e < p.n_extra; e++) {
    const double s = r.extra_logit(e);
    nan = nan || std::isnan(s);
    m = fmax(m, s);
  }
  if (nan) {
    return NAN;
  }
  double s = 0;
  for_each_neighbor(p, token, [&](int64_t kt, int, int ro) { s += exp(r.logit(kt, ro) - m); });
  for (int e = 0; e < p.n_extra; e++) {
    s += exp(r.extra_logit(e) - m);
  }
  return m + log(s);
}

// Output element (row, column c) given the row's logsumexp: the sum over the window and the extra tokens of
// exp(logit - lse) times the value.
NATTEN_DEVICE double exact_output(const NAProblem& p, const NAForwardArgs& a, int64_t row, int c, double lse) {
  const int dv = p.head_dim_v;
  const QueryRow r(p, a.query, a.key, a.rpb, a.extra_key, row);
  const int64_t token = (row / p.heads) % p.tokens();
  double acc = 0;
  for_each_neighbor(p, token, [&](int64_t kt, int, int ro) {
    acc += exp(r.logit(kt, ro) - lse) * a.value[kv_row(p, r.b, kt, r.hkv) * dv + c];
  });
  for (int e = 0; e < p.n_extra; e++) {
    acc += exp(r.extra_logit(e) - lse) * a.extra_value[extra_row(p, r.b, e, r.hkv) * dv + c];
  }
  return acc;
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

// dQ element (row, column c): scale times the sum over the window and the extra tokens of dS times the key, dS =
// P (dO . v - delta). A non-finite logsumexp that comes from the row's own logits (the fused forward's) makes some
// weight NaN (an infinite logit's, or every one), so the element is NaN with no walk; a walk skips its terms once
// the sum is NaN. (A logsumexp that does not match the logits, e.g. +Inf over finite ones after a float overflow,
// would give 0 by the plain sums and NaN here.)
NATTEN_DEVICE double exact_dq(const NAProblem& p, const NABackwardArgs& a, const float* delta, int64_t row, int c) {
  const int d = p.head_dim;
  const GradRow r(p, a, delta, row);
  if (!std::isfinite(r.lse)) {
    return NAN;
  }
  const int64_t token = (row / p.heads) % p.tokens();
  double acc = 0;
  for_each_neighbor(p, token, [&](int64_t kt, int, int ro) {
    if (!std::isnan(acc)) {
      const int64_t kr = kv_row(p, r.b, kt, r.hkv);
      acc += r.d_logit(r.prob(r.logit(kt, ro)), a.value + kr * p.head_dim_v) * a.key[kr * d + c];
    }
  });
  for (int e = 0; e < p.n_extra && !std::isnan(acc); e++) {
    const int64_t er = extra_row(p, r.b, e, r.hkv);
    acc += r.d_logit(r.prob(r.extra_logit(e)), a.extra_value + er * p.head_dim_v) * a.extra_key[er * d + c];
  }
  return acc * p.scale;
}

// Column c of the [key | value] gradient of key row kr ((b, key token, kv head) flattened): dK (c < head_dim) or dV
// (c - head_dim) as the sum over the queries whose windows hold the key, every query head of the group. A walk skips
// its terms once the sum is NaN.
NATTEN_DEVICE double exact_dkv(const NAProblem& p, const NABackwardArgs& a, const float* delta, int64_t kr, int c) {
  const int d = p.head_dim, dv = p.head_dim_v;
  const int hkv = static_cast<int>(kr % p.heads_kv);
  const int64_t key_token = (kr / p.heads_kv) % p.tokens();
  const int64_t b = kr / p.heads_kv / p.tokens();
  double acc = 0;
  for (int h = hkv * p.heads_per_kv(); h < (hkv + 1) * p.heads_per_kv(); h++) {
    for_each_query_of_key(p, key_token, [&](int64_t qt, int, int ro) {
      if (!std::isnan(acc)) {
        const GradRow r(p, a, delta, q_row(p, b, qt, h));
        const double prob = r.prob(r.logit(key_token, ro));
        acc += c < d ? r.d_logit(prob, a.value + kr * dv) * r.q[c] * p.scale : prob * r.d_out[c - d];
      }
    });
  }
  return acc;
}

}  // namespace reference
}  // namespace cuda
}  // namespace natten
