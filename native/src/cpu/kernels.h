// The row kernels, written once over the 8-lane interface of simd.h and compiled once per instruction set
// (kernels_avx2.cc, kernels_portable.cc). Included only by those two files.
//
// A row is one (batch, query token, query head). A unit (call.h) walks its query tokens; for each it lists
// the valid neighbors once (key pointers, rpb offsets, window slots; the extra tokens appended after them)
// and runs every query head of its kv head's group over that list. Scores are computed eight keys at a
// time: eight dot products accumulate lane-wise and one transpose-add (reduce8) turns them into the eight
// scores. Weighted sums of value rows run over blocks of up to 32 columns kept in registers.
#pragma once

#ifndef NATTEN_ISA
#error "kernels.h is included by kernels_<isa>.cc, which define NATTEN_ISA"
#endif

#include <math.h>
#include <string.h>

#include "call.h"
#include "simd.h"

namespace natten {
namespace cpu {
namespace NATTEN_ISA {

// Small helpers of our own (no standard-library templates here: see RowScratch in call.h).
static inline int imin(int a, int b) { return a < b ? a : b; }
static inline int imax(int a, int b) { return a > b ? a : b; }
static inline void fill(float* p, int64_t n, float x) {
  for (int64_t i = 0; i < n; ++i) p[i] = x;
}
static inline int round_up(int n) { return (n + simd::kWidth - 1) / simd::kWidth * simd::kWidth; }

template <class S>
struct Rows {
  using V = typename S::V;
  static constexpr int W = simd::kWidth;

  // Copies n floats to a buffer padded with zeros to a multiple of W (so full-width loads are safe).
  static const float* padded(const float* x, int n, float* buf) {
    int c = 0;
    for (; c + W <= n; c += W) S::store(buf + c, S::load(x + c));
    if (c < n) S::store(buf + c, S::load_n(x + c, n - c));
    return buf;
  }

  // Lane j: dot(a, rows[j]) over n columns; `a` padded to a multiple of W.
  static V dot8(const float* a, const float* const* rows, int n) {
    V acc[W];
    for (int j = 0; j < W; ++j) acc[j] = S::zero();
    int c = 0;
    for (; c + W <= n; c += W) {
      const V av = S::load(a + c);
      for (int j = 0; j < W; ++j) acc[j] = S::fmadd(av, S::load(rows[j] + c), acc[j]);
    }
    if (c < n) {
      const V av = S::load(a + c);
      for (int j = 0; j < W; ++j) acc[j] = S::fmadd(av, S::load_n(rows[j] + c, n - c), acc[j]);
    }
    return S::reduce8(acc);
  }

  // The W rows starting at list[m0]; slots past `count` repeat row m0 (their lanes are masked by callers).
  template <class P>
  static void gather(P* const* list, int m0, int count, P** out) {
    for (int j = 0; j < W; ++j) out[j] = list[m0 + (j < count ? j : 0)];
  }

  // out[c] = scale * sum_m w[m] * rows[m][c] for c < n: blocks of NB vectors kept in registers.
  template <int NB>
  static void weighted_block(const float* w, const float* const* rows, int count, int c0, int lanes, float scale,
                             float* out) {
    // Two sets of accumulators (even and odd m): one set alone would wait on the FMA latency every row.
    V acc[2][NB];
    for (int i = 0; i < NB; ++i) acc[0][i] = acc[1][i] = S::zero();
    const int tail = lanes - W * (NB - 1);
    int m = 0;
    if (tail == W) {
      for (; m + 1 < count; m += 2) {
        for (int k = 0; k < 2; ++k) {
          const V wm = S::set1(w[m + k]);
          const float* r = rows[m + k] + c0;
          for (int i = 0; i < NB; ++i) acc[k][i] = S::fmadd(wm, S::load(r + W * i), acc[k][i]);
        }
      }
      for (; m < count; ++m) {
        const V wm = S::set1(w[m]);
        const float* r = rows[m] + c0;
        for (int i = 0; i < NB; ++i) acc[0][i] = S::fmadd(wm, S::load(r + W * i), acc[0][i]);
      }
    } else {
      for (; m < count; ++m) {
        const V wm = S::set1(w[m]);
        const float* r = rows[m] + c0;
        const int k = m & 1;
        for (int i = 0; i < NB - 1; ++i) acc[k][i] = S::fmadd(wm, S::load(r + W * i), acc[k][i]);
        acc[k][NB - 1] = S::fmadd(wm, S::load_n(r + W * (NB - 1), tail), acc[k][NB - 1]);
      }
    }
    const V sv = S::set1(scale);
    for (int i = 0; i < NB - 1; ++i) S::store(out + c0 + W * i, S::mul(S::add(acc[0][i], acc[1][i]), sv));
    S::store_n(out + c0 + W * (NB - 1), S::mul(S::add(acc[0][NB - 1], acc[1][NB - 1]), sv), tail);
  }

  static void weighted_sum(const float* w, const float* const* rows, int count, int n, float scale, float* out) {
    for (int c0 = 0; c0 < n; c0 += 4 * W) {
      const int lanes = imin(4 * W, n - c0);
      switch ((lanes + W - 1) / W) {
        case 1: weighted_block<1>(w, rows, count, c0, lanes, scale, out); break;
        case 2: weighted_block<2>(w, rows, count, c0, lanes, scale, out); break;
        case 3: weighted_block<3>(w, rows, count, c0, lanes, scale, out); break;
        default: weighted_block<4>(w, rows, count, c0, lanes, scale, out); break;
      }
    }
  }

  // y[c] += alpha * x[c] for c < n; x padded to a multiple of W.
  static void axpy(float alpha, const float* x, float* y, int n) {
    const V a = S::set1(alpha);
    int c = 0;
    for (; c + W <= n; c += W) S::store(y + c, S::fmadd(a, S::load(x + c), S::load(y + c)));
    if (c < n) S::store_n(y + c, S::fmadd(a, S::load(x + c), S::load_n(y + c, n - c)), n - c);
  }

  // acc[c] += alpha * x[c] for c < n, acc padded; x a plain row (its tail read masked).
  static void axpy_into_padded(float alpha, const float* x, float* acc, int n) {
    const V a = S::set1(alpha);
    int c = 0;
    for (; c + W <= n; c += W) S::store(acc + c, S::fmadd(a, S::load(x + c), S::load(acc + c)));
    if (c < n) S::store(acc + c, S::fmadd(a, S::load_n(x + c, n - c), S::load(acc + c)));
  }

  static float dot(const float* a, const float* b, int n) {
    V acc = S::zero();
    int c = 0;
    for (; c + W <= n; c += W) acc = S::fmadd(S::load(a + c), S::load(b + c), acc);
    if (c < n) acc = S::fmadd(S::load_n(a + c, n - c), S::load_n(b + c, n - c), acc);
    return S::hsum(acc);
  }

  // ---------------------------------------------------------------------------------------------------
  // Unit set-up shared by every kernel: the neighbor list of a token with key/value pointers, extra
  // tokens appended.

  struct Walk {
    const NACall& c;
    UnitPos pos;
    const Problem& p;
    int K, E, D, Dv, Hpk, S_;
    int64_t N;
    int n = 0;  // valid neighbors of the listed token (extras excluded)
    RowScratch s;

    Walk(const NACall& call, int64_t u) : c(call), pos(unit_pos(call, u)), p(call.p) {
      K = c.kernel_volume;
      E = p.n_extra;
      D = p.head_dim;
      Dv = p.head_dim_v;
      Hpk = c.heads_per_kv;
      S_ = c.slots;
      N = c.tokens;
      s = row_scratch(K + E, imax(D, Dv));
    }

    // Lists token t's neighbors: key tokens, rpb offsets, slots (the extra tokens' slots appended).
    // Returns the count including the extra tokens.
    int list(int64_t t, bool want_slots) {
      n = c.g->neighbors(t, s.key_token, s.rpb_offset, want_slots ? s.slot : nullptr);
      for (int e = 0; e < E; ++e) s.slot[n + e] = K + e;
      return n + E;
    }

    // Points kp / vp of the listed neighbors and the extra tokens at the rows of kv head hk.
    void point(int hk) {
      const int64_t kvs = static_cast<int64_t>(p.heads_kv);
      const int64_t base = pos.b * N * kvs + hk * c.kv_head_stride;  // in rows
      const int64_t ebase = static_cast<int64_t>(pos.b) * E * kvs + hk;
      if (c.key != nullptr) {
        const float* key0 = c.key + base * D;
        const int64_t stride = c.kv_token_stride * D;
        for (int m = 0; m < n; ++m) s.kp[m] = key0 + s.key_token[m] * stride;
        for (int e = 0; e < E; ++e) s.kp[n + e] = c.extra_keys + (ebase + e * kvs) * D;
      }
      if (c.value != nullptr) {
        const float* value0 = c.value + base * Dv;
        const int64_t stride = c.kv_token_stride * Dv;
        for (int m = 0; m < n; ++m) s.vp[m] = value0 + s.key_token[m] * stride;
        for (int e = 0; e < E; ++e) s.vp[n + e] = c.extra_values + (ebase + e * kvs) * Dv;
      }
    }

    int64_t row(int64_t t, int h) const { return (static_cast<int64_t>(pos.b) * N + t) * p.heads + h; }

    // bias[m] for head h: rpb entries of the n neighbors, 0 for extras and the padding up to W.
    const float* bias(int h, int total) {
      float* b = s.bias;
      if (c.rpb == nullptr) {
        if (!zero_bias) {  // zeros for every row of the unit
          fill(b, K + E + W, 0.0f);
          zero_bias = true;
        }
        return b;
      }
      const float* r = c.rpb + static_cast<int64_t>(h) * c.rpb_volume;
      for (int m = 0; m < n; ++m) b[m] = r[s.rpb_offset[m]];
      fill(b + n, total + W - n, 0.0f);
      return b;
    }
    bool zero_bias = false;

  };

  // A forward-type unit: for every token, lists its neighbors once, then calls body(row, h, M) for every
  // query head of every kv head of the unit, with s.kp / s.vp pointing at that kv head's rows.
  template <class F>
  static void rows_unit(Walk& w, bool slots, F&& body) {
    for (int64_t t = w.pos.t0; t < w.pos.t1; ++t) {
      const int M = w.list(t, slots);
      for (int hk = w.pos.hk; hk < w.pos.hk_end; ++hk) {
        w.point(hk);
        for (int h = hk * w.Hpk; h < (hk + 1) * w.Hpk; ++h) {
          body(w.row(t, h), h, M);
        }
      }
    }
  }

  // ---------------------------------------------------------------------------------------------------
  // Fused forward.

  static void na_forward(const NACall& c, int64_t u) {
    Walk w(c, u);
    const RowScratch& s = w.s;
    const float scale = w.p.scale;
    rows_unit(w, false, [&](int64_t row, int h, int M) {
      const float* q = padded(c.query + row * w.D, w.D, s.qbuf);
      const float* bias = w.bias(h, M);
      float* scores = s.scores;
      V vmax = S::set1(-INFINITY);
      for (int m0 = 0; m0 < M; m0 += W) {
        const int cnt = imin(W, M - m0);
        const float* kj[W];
        gather(s.kp, m0, cnt, kj);
        V sc = S::fmadd(dot8(q, kj, w.D), S::set1(scale), S::load(bias + m0));
        if (cnt < W) sc = S::mask_n_neg_inf(sc, cnt);
        S::store(scores + m0, sc);
        vmax = S::max(vmax, sc);
      }
      const float mx = S::hmax(vmax);
      const V vm = S::set1(mx);
      V vsum = S::zero();
      float* probs = s.probs;
      for (int m0 = 0; m0 < M; m0 += W) {
        const int cnt = imin(W, M - m0);
        V pr = S::exp(S::sub(S::load(scores + m0), vm));
        if (cnt < W) pr = S::keep_n(pr, cnt);
        S::store(probs + m0, pr);
        vsum = S::add(vsum, pr);
      }
      const float sum = S::hsum(vsum);
      weighted_sum(probs, s.vp, M, w.Dv, 1.0f / sum, c.out + row * w.Dv);
      c.out_lse[row] = logf(sum) + mx;
    });
  }

  // ---------------------------------------------------------------------------------------------------
  // Shared by the backward kernels: zeroing what a unit accumulates into, and the key-side targets.

  // Zeroes the unit's own direct rows of a key-side gradient and its halo rows.
  static void clear_key_side(const KeySide& ks, const ChunkHalo& h) {
    for (int64_t t = ks.own_lo; t < ks.own_hi; ++t) fill(ks.direct + t * ks.stride, ks.width, 0.0f);
    fill(ks.halo, (h.left_rows + h.right_rows) * ks.width, 0.0f);
  }

  // Points dkp/dvp of the n neighbors and E extras at their gradient rows for this unit.
  static void key_targets(const KeySide& ks, float* extra_part, int width, const RowScratch& s, int n, int E,
                          float** out) {
    for (int m = 0; m < n; ++m) out[m] = key_row(ks, s.key_token[m]);
    for (int e = 0; e < E; ++e) out[n + e] = extra_part + static_cast<int64_t>(e) * width;
  }

  // Per-unit partial buffers: extra tokens [E, width] and rpb [Hpk, rpbVolume]; zeroed.
  static float* extra_part(float* base, int64_t u, int E, int width) {
    if (base == nullptr) return nullptr;
    float* part = base + u * E * width;
    fill(part, static_cast<int64_t>(E) * width, 0.0f);
    return part;
  }

  static double* rpb_part(const NACall& c, int64_t u) {
    if (c.d_rpb_part == nullptr) return nullptr;
    const int64_t size = static_cast<int64_t>(c.heads_per_kv) * c.rpb_volume;
    double* part = c.d_rpb_part + u * size;
    for (int64_t i = 0; i < size; ++i) part[i] = 0.0;
    return part;
  }

  // A backward-type unit: zeroes what it accumulates into (its key-side rows and halos, its extra-token and
  // rpb partials), then calls body(row, h, n, M, drpb_h) for every row, with s.dkp / s.dvp (when the kernel
  // has key / value gradients) pointing at the unit's gradient rows of the listed neighbors.
  template <class F>
  static void scatter_unit(Walk& w, int64_t u, bool keys, bool values, bool slots, F&& body) {
    const NACall& c = w.c;
    const RowScratch& s = w.s;
    const ChunkHalo& halo = c.halos[w.pos.chunk];
    KeySide dk{}, dv{};
    float* dek = nullptr;
    float* dev = nullptr;
    if (keys) {
      dk = key_side(c, u, w.pos, c.d_key, c.d_key_halo, w.D);
      clear_key_side(dk, halo);
      dek = extra_part(c.d_extra_keys_part, u, w.E, w.D);
    }
    if (values) {
      dv = key_side(c, u, w.pos, c.d_value, c.d_value_halo, w.Dv);
      clear_key_side(dv, halo);
      dev = extra_part(c.d_extra_values_part, u, w.E, w.Dv);
    }
    double* drpb = rpb_part(c, u);
    const int h0 = w.pos.hk * w.Hpk;
    for (int64_t t = w.pos.t0; t < w.pos.t1; ++t) {
      const int M = w.list(t, slots);
      w.point(w.pos.hk);
      if (keys) key_targets(dk, dek, w.D, s, w.n, w.E, s.dkp);
      if (values) key_targets(dv, dev, w.Dv, s, w.n, w.E, s.dvp);
      for (int h = h0; h < h0 + w.Hpk; ++h) {
        double* drpb_h = drpb == nullptr ? nullptr : drpb + static_cast<int64_t>(h - h0) * c.rpb_volume;
        body(w.row(t, h), h, w.n, M, drpb_h);
      }
    }
  }

  // ---------------------------------------------------------------------------------------------------
  // Fused backward.

  // One row, any head dims: p and dS recomputed for eight keys at a time, then dq (accumulated in gbuf),
  // dk and dv (read-modify-write at the unit's targets) updated key by key.
  static void backward_row(const Walk& w, const RowScratch& s, int64_t row, int n, int M, const float* bias,
                           double* drpb) {
    const NACall& c = w.c;
    const int D = w.D, Dv = w.Dv;
    const float scale = w.p.scale;
    const float* q = padded(c.query + row * D, D, s.qbuf);
    const float* dO = padded(c.d_output + row * Dv, Dv, s.obuf);
    float* dq = s.gbuf;
    fill(dq, round_up(D), 0.0f);
    const float lse = c.lse[row];
    const float delta = dot(dO, c.output + row * Dv, Dv) - (c.d_lse != nullptr ? c.d_lse[row] : 0.0f);
    const V vlse = S::set1(lse), vdelta = S::set1(delta), vscale = S::set1(scale);
    alignas(32) float pj[W], dsj[W];
    for (int m0 = 0; m0 < M; m0 += W) {
      const int cnt = imin(W, M - m0);
      const float* kj[W];
      const float* vj[W];
      gather(s.kp, m0, cnt, kj);
      gather(s.vp, m0, cnt, vj);
      const V sc = S::fmadd(dot8(q, kj, D), vscale, S::load(bias + m0));
      const V pr = S::keep_n(S::exp(S::sub(sc, vlse)), cnt);
      const V ds = S::keep_n(S::mul(pr, S::sub(dot8(dO, vj, Dv), vdelta)), cnt);
      S::store(pj, pr);
      S::store(dsj, ds);
      if (drpb != nullptr) {
        for (int j = 0; j < cnt && m0 + j < n; ++j) drpb[s.rpb_offset[m0 + j]] += dsj[j];
      }
      for (int j = 0; j < cnt; ++j) {
        const float g = scale * dsj[j];
        axpy_into_padded(g, kj[j], dq, D);
        axpy(g, q, s.dkp[m0 + j], D);
        axpy(pj[j], dO, s.dvp[m0 + j], Dv);
      }
    }
    float* out = c.d_query + row * D;
    memcpy(out, dq, sizeof(float) * D);
  }

  // The same row with headDim == headDimV == W * NV: q, dO and dq stay in registers.
  template <int NV>
  static void backward_row_exact(const Walk& w, const RowScratch& s, int64_t row, int n, int M, const float* bias,
                                 double* drpb) {
    const NACall& c = w.c;
    constexpr int D = W * NV;
    const float scale = w.p.scale;
    V q[NV], dO[NV], dq[NV];
    V od = S::zero();
    for (int i = 0; i < NV; ++i) {
      q[i] = S::load(c.query + row * D + W * i);
      dO[i] = S::load(c.d_output + row * D + W * i);
      dq[i] = S::zero();
      od = S::fmadd(dO[i], S::load(c.output + row * D + W * i), od);
    }
    const float delta = S::hsum(od) - (c.d_lse != nullptr ? c.d_lse[row] : 0.0f);
    const V vlse = S::set1(c.lse[row]), vdelta = S::set1(delta), vscale = S::set1(scale);
    alignas(32) float pj[W], dsj[W];
    for (int m0 = 0; m0 < M; m0 += W) {
      const int cnt = imin(W, M - m0);
      const float* kj[W];
      const float* vj[W];
      gather(s.kp, m0, cnt, kj);
      gather(s.vp, m0, cnt, vj);
      V acc[W];
      for (int j = 0; j < W; ++j) acc[j] = S::zero();
      for (int i = 0; i < NV; ++i) {
        for (int j = 0; j < W; ++j) acc[j] = S::fmadd(q[i], S::load(kj[j] + W * i), acc[j]);
      }
      const V sc = S::fmadd(S::reduce8(acc), vscale, S::load(bias + m0));
      for (int j = 0; j < W; ++j) acc[j] = S::zero();
      for (int i = 0; i < NV; ++i) {
        for (int j = 0; j < W; ++j) acc[j] = S::fmadd(dO[i], S::load(vj[j] + W * i), acc[j]);
      }
      const V pr = S::keep_n(S::exp(S::sub(sc, vlse)), cnt);
      const V ds = S::keep_n(S::mul(pr, S::sub(S::reduce8(acc), vdelta)), cnt);
      S::store(pj, pr);
      S::store(dsj, ds);
      if (drpb != nullptr) {
        for (int j = 0; j < cnt && m0 + j < n; ++j) drpb[s.rpb_offset[m0 + j]] += dsj[j];
      }
      for (int j = 0; j < cnt; ++j) {
        const V g = S::set1(scale * dsj[j]);
        const V pv = S::set1(pj[j]);
        const float* k = kj[j];
        float* dk = s.dkp[m0 + j];
        float* dv = s.dvp[m0 + j];
        for (int i = 0; i < NV; ++i) {
          dq[i] = S::fmadd(g, S::load(k + W * i), dq[i]);
          S::store(dk + W * i, S::fmadd(g, q[i], S::load(dk + W * i)));
          S::store(dv + W * i, S::fmadd(pv, dO[i], S::load(dv + W * i)));
        }
      }
    }
    for (int i = 0; i < NV; ++i) S::store(c.d_query + row * D + W * i, dq[i]);
  }

  using BackwardRow = void (*)(const Walk&, const RowScratch&, int64_t, int, int, const float*, double*);

  static BackwardRow pick_backward_row(int D, int Dv) {
    if (D == Dv) {
      switch (D) {
        case W: return backward_row_exact<1>;
        case 2 * W: return backward_row_exact<2>;
        case 3 * W: return backward_row_exact<3>;
        case 4 * W: return backward_row_exact<4>;
        default: break;
      }
    }
    return backward_row;
  }

  static void na_backward(const NACall& c, int64_t u) {
    Walk w(c, u);
    const BackwardRow row_fn = pick_backward_row(w.D, w.Dv);
    scatter_unit(w, u, true, true, false, [&](int64_t row, int h, int n, int M, double* drpb) {
      row_fn(w, w.s, row, n, M, w.bias(h, M), drpb);
    });
  }

  // ---------------------------------------------------------------------------------------------------
  // Split QK and AV.

  static void qk_forward(const NACall& c, int64_t u) {
    Walk w(c, u);
    const RowScratch& s = w.s;
    rows_unit(w, true, [&](int64_t row, int h, int M) {
      const float* q = padded(c.query + row * w.D, w.D, s.qbuf);
      const float* bias = w.bias(h, M);
      float* out = c.logits + row * w.S_;
      fill(out, w.S_, -INFINITY);
      alignas(32) float sj[W];
      for (int m0 = 0; m0 < M; m0 += W) {
        const int cnt = imin(W, M - m0);
        const float* kj[W];
        gather(s.kp, m0, cnt, kj);
        S::store(sj, S::fmadd(dot8(q, kj, w.D), S::set1(w.p.scale), S::load(bias + m0)));
        for (int j = 0; j < cnt; ++j) out[s.slot[m0 + j]] = sj[j];
      }
    });
  }

  static void qk_backward(const NACall& c, int64_t u) {
    Walk w(c, u);
    const RowScratch& s = w.s;
    float* dq = s.gbuf;
    scatter_unit(w, u, true, false, true, [&](int64_t row, int, int n, int M, double* drpb) {
      const float* q = padded(c.query + row * w.D, w.D, s.qbuf);
      const float* dl = c.d_logits + row * w.S_;
      fill(dq, round_up(w.D), 0.0f);
      for (int m = 0; m < M; ++m) {
        const float ds = dl[s.slot[m]];
        if (drpb != nullptr && m < n) drpb[s.rpb_offset[m]] += ds;
        const float g = w.p.scale * ds;
        axpy_into_padded(g, s.kp[m], dq, w.D);
        axpy(g, q, s.dkp[m], w.D);
      }
      memcpy(c.d_query + row * w.D, dq, sizeof(float) * w.D);
    });
  }

  static void av_forward(const NACall& c, int64_t u) {
    Walk w(c, u);
    const RowScratch& s = w.s;
    rows_unit(w, true, [&](int64_t row, int, int M) {
      const float* wr = c.weights + row * w.S_;
      float* probs = s.probs;
      for (int m = 0; m < M; ++m) probs[m] = wr[s.slot[m]];
      weighted_sum(probs, s.vp, M, w.Dv, 1.0f, c.out + row * w.Dv);
    });
  }

  static void av_backward(const NACall& c, int64_t u) {
    Walk w(c, u);
    const RowScratch& s = w.s;
    scatter_unit(w, u, false, true, true, [&](int64_t row, int, int, int M, double*) {
      const float* dO = padded(c.d_output + row * w.Dv, w.Dv, s.obuf);
      const float* wr = c.weights + row * w.S_;
      float* dw = c.d_weights + row * w.S_;
      fill(dw, w.S_, 0.0f);
      alignas(32) float dj[W];
      for (int m0 = 0; m0 < M; m0 += W) {
        const int cnt = imin(W, M - m0);
        const float* vj[W];
        gather(s.vp, m0, cnt, vj);
        S::store(dj, dot8(dO, vj, w.Dv));
        for (int j = 0; j < cnt; ++j) {
          const int slot = s.slot[m0 + j];
          dw[slot] = dj[j];
          axpy(wr[slot], dO, s.dvp[m0 + j], w.Dv);
        }
      }
    });
  }

  static KernelTable table() {
    return KernelTable{S::kName, na_forward, na_backward, qk_forward, qk_backward, av_forward, av_backward};
  }
};

}  // namespace NATTEN_ISA
}  // namespace cpu
}  // namespace natten
