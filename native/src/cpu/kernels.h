// The row kernels, written once over the 8-lane interface of simd.h and compiled once per instruction set
// (kernels_portable.cc, kernels_avx2.cc, kernels_avx512.cc, kernels_avx512zmm.cc). Included only by those files.
// The blocked backward's head-dim rows use S::Row (16-lane Zmm in the avx512zmm set, else S itself).
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

#if defined(__GNUC__) || defined(__clang__)
#define NATTEN_FORCE_INLINE inline __attribute__((always_inline))
#else
#define NATTEN_FORCE_INLINE inline
#endif

// Vector registers the kernels may plan for: 32 where the translation unit is compiled with AVX-512VL (its
// 256-bit code then reaches ymm16-ymm31), else 16.
#ifndef NATTEN_VECTOR_REGISTERS
#if defined(__AVX512VL__)
#define NATTEN_VECTOR_REGISTERS 32
#else
#define NATTEN_VECTOR_REGISTERS 16
#endif
#endif

namespace natten {
namespace cpu {
namespace NATTEN_ISA {

// Full unrolling of loops over register arrays, so that GCC keeps their elements in registers (left rolled,
// it keeps lane_dots' accumulators on the stack: a load and a store around every multiply-add).
#if defined(__clang__)
#define NATTEN_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define NATTEN_UNROLL _Pragma("GCC unroll 64")
#else
#define NATTEN_UNROLL
#endif

// Small helpers of our own (no standard-library templates here: see RowScratch in call.h).
static inline int imin(int a, int b) { return a < b ? a : b; }
static inline int imax(int a, int b) { return a > b ? a : b; }
static inline int64_t imin64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline void fill(float* p, int64_t n, float x) {
  for (int64_t i = 0; i < n; ++i) p[i] = x;
}
static inline int round_up(int n) { return (n + simd::kWidth - 1) / simd::kWidth * simd::kWidth; }

template <class S>
struct Rows {
  using V = typename S::V;
  static constexpr int W = simd::kWidth;
  // The blocked backward's head-dim rows (S itself, or 16-lane Zmm in the avx512zmm set), and whether its
  // transposed key and value interleave column pairs (see simd::Avx512).
  using R = typename S::Row;
  using RV = typename R::V;
  static constexpr int RW = S::kRowWidth;
  static constexpr bool kPairs = S::kPairs;

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
  // Blocked fused backward: where na_cpu.cc's blocked_backward() holds (last-axis dilation 1, no extra
  // tokens, head dims multiples of W, last-axis kernel at most 2W); na_backward above does the rest.
  //
  // A tile is up to kTileQueries consecutive query tokens of one line of the last axis whose last-axis
  // windows fit together in c.tile_lanes keys starting at `lo`. Such queries share their windows along the
  // other axes, so for every key row (one position on the leading axes) the tile's neighbors are one
  // contiguous run of key tokens. Per key row, S = Q K^T and dP = dO V^T come out with keys in lanes (from
  // the transposed key and value, c.key_t / c.value_t), P = exp(S - lse) and dS = P (dP - delta) are kept
  // only inside each query's own window (every other lane is exactly zero), then dq of each query is summed
  // over the run's keys, and dk and dv of each key over the tile's queries before one read-modify-write of
  // the key's gradient rows (the per-pair read-modify-write was most of na_backward's time).
  //
  // With c.tile_lines == 2 (the default), a tile also takes the same x range of a second line, y + dilation
  // on the middle axis (same first-axis position, same dilation group): its key rows are the first line's
  // shifted by one step, so the rows both lines see (k - 1 of k + 1 for a kernel k inside the grid) are
  // processed for both at once, with one dk/dv read-modify-write per key for twice the queries; the rows only
  // one line sees are processed for that line alone (tile_rows over a range of query slots). Pairs are made
  // within a unit only (both lines whole in its token range), so the work is still cut by the problem alone.
  // 2d preset, one thread: 58-60 cycles per (query, key) pair with one line, 45-47 with two (bench/RESULTS.md).

  static constexpr int kTileQueries = 4;  // per line
  static constexpr int kTileLines = 2;
  static constexpr int kTileSlots = kTileQueries * kTileLines;
  static constexpr int kTileLanes = 2 * W;

  // What every tile of a unit needs.
  struct BlockUnit {
    const NACall& c;
    UnitPos pos;
    int D, Dv, L1, L2;
    const float* key0;   // key row of token 0 of this batch and kv head; tokens kstride apart
    int64_t kstride;
    const float* kt0;    // transposed key / value of this batch and kv head: [lines, dim, c.t_pitch]
    const float* vt0;
    KeySide dk, dv;
    float* dq;           // kTileQueries rows of D: the tile's dq sums
    float* scores = nullptr;  // the forward: the tile's kept scores, score_rows rows of kTileLanes per slot
    int score_rows = 0;
  };

  // One query head's view of a tile.
  struct Tile {
    // Query slot l * TQ + i: the query at x offset i of the tile's line l.
    const float* q[kTileSlots];
    const float* dO[kTileSlots];
    float lse[kTileSlots], delta[kTileSlots];
    float* d_query[kTileSlots];
    float* out[kTileSlots];      // the forward: the output rows
    float* lse_out[kTileSlots];  // the forward: the logsumexp entries
    float* weights_out[kTileSlots];       // the forward, where it keeps its weights (c.weights_out): their rows
    const float* weights_in[kTileSlots];  // the backward, where given the forward's weights (c.weights_in)
    int win_lo[kTileQueries], win_hi[kTileQueries];  // the query's window, in lanes from lo
    int rpb_x[kTileQueries];  // last-axis rpb index of lane 0 for the query (valid inside its window only)
    int rpb_y[kTileLines];    // the line's middle-axis rpb offset (times 2 kernel[2] - 1) of key row 0
    // Key rows on the middle axis, in steps of the dilation from f1 (line 0's first): [rows[0], rows[1])
    // seen by line 0 alone, [rows[2], rows[3]) by both lines, [rows[4], rows[5]) by line 1 alone.
    int rows[6];
    int z, f1, lo, span;
    const float* rpb_h;  // null without rpb
    double* drpb_h;
  };

  // Key rows per group of the lane dot products below, by TQ * NK: at most eight accumulators (sixteen
  // with 32 vector registers).
#if NATTEN_VECTOR_REGISTERS >= 32
  static constexpr int group_rows(int a) { return a <= 4 ? 4 : a <= 8 ? 2 : 1; }
#else
  static constexpr int group_rows(int a) { return a == 1 ? 4 : a == 2 ? 4 : a <= 4 ? 2 : 1; }
#endif

  // out[g * A + i * NK + k] = sum_d rows[i][d] * cols[g][d * pitch + W * k] (A = TQ * NK): TQ query rows
  // against NK * W lanes of G transposed key (or value) runs at once, so that each broadcast of a query
  // value feeds G * NK multiply-adds. PS partial sums keep enough independent FMA chains when A * G is small.
  template <int TQ, int NK, int G>
  static void lane_dots(const float* const* rows, const float* const* cols, int64_t pitch, int D, V* out) {
    constexpr int A = TQ * NK;
    constexpr int PS = A * G >= 6 ? 1 : 2;
    if constexpr (kPairs) {
      // Column pairs: each load holds W keys x 2 columns, each broadcast a query's 2 columns; the two
      // columns' partial sums are added at the end.
      RV acc[PS][G * A];
      NATTEN_UNROLL
      for (int s = 0; s < PS; ++s) {
        NATTEN_UNROLL
        for (int a = 0; a < G * A; ++a) acc[s][a] = R::zero();
      }
      for (int d = 0; d < D; d += 2 * PS) {  // D is a multiple of W, hence of 2 * PS
        NATTEN_UNROLL
        for (int s = 0; s < PS; ++s) {
          RV kv[G][NK];
          NATTEN_UNROLL
          for (int g = 0; g < G; ++g) {
            NATTEN_UNROLL
            for (int k = 0; k < NK; ++k) kv[g][k] = R::load(cols[g] + (d + 2 * s) * pitch + 2 * W * k);
          }
          NATTEN_UNROLL
          for (int i = 0; i < TQ; ++i) {
            const RV b = R::set2(rows[i] + d + 2 * s);
            NATTEN_UNROLL
            for (int g = 0; g < G; ++g) {
              NATTEN_UNROLL
              for (int k = 0; k < NK; ++k) acc[s][g * A + i * NK + k] = R::fmadd(b, kv[g][k], acc[s][g * A + i * NK + k]);
            }
          }
        }
      }
      RV sum[G * A];
      NATTEN_UNROLL
      for (int a = 0; a < G * A; ++a) {
        sum[a] = acc[0][a];
        for (int s = 1; s < PS; ++s) sum[a] = R::add(sum[a], acc[s][a]);
      }
      int a = 0;
      for (; a + 1 < G * A; a += 2) R::fold_pairs(sum[a], sum[a + 1], &out[a], &out[a + 1]);
      if (a < G * A) {
        V unused;
        R::fold_pairs(sum[a], sum[a], &out[a], &unused);
      }
      return;
    }
    V acc[PS][G * A];
    NATTEN_UNROLL
    for (int s = 0; s < PS; ++s) {
      NATTEN_UNROLL
      for (int a = 0; a < G * A; ++a) acc[s][a] = S::zero();
    }
    for (int d = 0; d < D; d += PS) {  // D is a multiple of W, hence of PS
      NATTEN_UNROLL
      for (int s = 0; s < PS; ++s) {
        V kv[G][NK];
        NATTEN_UNROLL
        for (int g = 0; g < G; ++g) {
          NATTEN_UNROLL
          for (int k = 0; k < NK; ++k) kv[g][k] = S::load(cols[g] + (d + s) * pitch + W * k);
        }
        NATTEN_UNROLL
        for (int i = 0; i < TQ; ++i) {
          const V b = S::set1(rows[i][d + s]);
          NATTEN_UNROLL
          for (int g = 0; g < G; ++g) {
            NATTEN_UNROLL
            for (int k = 0; k < NK; ++k) acc[s][g * A + i * NK + k] = S::fmadd(b, kv[g][k], acc[s][g * A + i * NK + k]);
          }
        }
      }
    }
    NATTEN_UNROLL
    for (int a = 0; a < G * A; ++a) {
      V sum = acc[0][a];
      for (int s = 1; s < PS; ++s) sum = S::add(sum, acc[s][a]);
      out[a] = sum;
    }
  }

  // lane_dots for g <= group_rows(TQ * NK) runs.
  template <int TQ, int NK>
  static void lane_dots_n(int g, const float* const* rows, const float* const* cols, int64_t pitch, int D, V* out) {
    constexpr int GM = group_rows(TQ * NK);
    switch (g) {
      case 1: lane_dots<TQ, NK, 1>(rows, cols, pitch, D, out); break;
      case 2: lane_dots<TQ, NK, (GM >= 2 ? 2 : 1)>(rows, cols, pitch, D, out); break;
      case 3: lane_dots<TQ, NK, (GM >= 3 ? 3 : 1)>(rows, cols, pitch, D, out); break;
      default: lane_dots<TQ, NK, GM>(rows, cols, pitch, D, out); break;
    }
  }

  // dst[c0 + c] += alpha * sum_m coef[m * cs] * rows[m][c0 + c] for c < NB * W.
  template <int NB>
  static void combine_block(const float* coef, int cs, const float* const* rows, int count, float alpha, int c0,
                            float* dst) {
    V acc[2][NB];
    for (int v = 0; v < NB; ++v) acc[0][v] = acc[1][v] = S::zero();
    int m = 0;
    for (; m + 1 < count; m += 2) {
      for (int k = 0; k < 2; ++k) {
        const V a = S::set1(coef[(m + k) * cs]);
        const float* r = rows[m + k] + c0;
        for (int v = 0; v < NB; ++v) acc[k][v] = S::fmadd(a, S::load(r + W * v), acc[k][v]);
      }
    }
    if (m < count) {
      const V a = S::set1(coef[m * cs]);
      const float* r = rows[m] + c0;
      for (int v = 0; v < NB; ++v) acc[0][v] = S::fmadd(a, S::load(r + W * v), acc[0][v]);
    }
    const V al = S::set1(alpha);
    float* d = dst + c0;
    for (int v = 0; v < NB; ++v) S::store(d + W * v, S::fmadd(S::add(acc[0][v], acc[1][v]), al, S::load(d + W * v)));
  }

  // dst[c] += alpha * sum_m coef[m * cs] * rows[m][c] for c < n (n a multiple of W).
  static void combine(const float* coef, int cs, const float* const* rows, int count, float alpha, int n,
                      float* dst) {
    for (int c0 = 0; c0 < n; c0 += 4 * W) {
      switch (imin(4, (n - c0) / W)) {
        case 1: combine_block<1>(coef, cs, rows, count, alpha, c0, dst); break;
        case 2: combine_block<2>(coef, cs, rows, count, alpha, c0, dst); break;
        case 3: combine_block<3>(coef, cs, rows, count, alpha, c0, dst); break;
        default: combine_block<4>(coef, cs, rows, count, alpha, c0, dst); break;
      }
    }
  }

  // dst[v] += sum_i coef[i * cs] * rows[i][v] for the NV vectors of one gradient row; rows in registers.
  template <int TQ, int NV>
  static void update_row(const float* coef, int cs, const RV (*rows)[NV], float* dst) {
    RV acc[NV];
    for (int v = 0; v < NV; ++v) acc[v] = R::load(dst + RW * v);
    for (int i = 0; i < TQ; ++i) {
      const RV a = R::set1(coef[i * cs]);
      for (int v = 0; v < NV; ++v) acc[v] = R::fmadd(a, rows[i][v], acc[v]);
    }
    for (int v = 0; v < NV; ++v) R::store(dst + RW * v, acc[v]);
  }

  // Writes an output row of NV row vectors: streamed (no read of the line first) where the row is whole cache
  // lines (the outputs start on a cache line when the addon's output() made them), else stored. The unit ends with
  // simd::stream_fence().
  template <int NV>
  static NATTEN_FORCE_INLINE void store_row(float* dst, const RV* v) {
    if ((reinterpret_cast<uintptr_t>(dst) & 63) == 0 && (NV * RW) % 16 == 0) {
      for (int i = 0; i < NV; ++i) R::stream(dst + RW * i, v[i]);
    } else {
      for (int i = 0; i < NV; ++i) R::store(dst + RW * i, v[i]);
    }
  }

  // The kept weights' rows (c.weights_out / c.weights_in): head-major, [batch, heads, tokens] rows of
  // c.weights_stride floats (every key row of a query's window, tile_lanes lanes each, in the tiles' order) after a
  // header of kWeightsHeader floats (na_cpu.cc). `row` is the query row (batch, token, head).
  static NATTEN_FORCE_INLINE const float* weights_row(const NACall& c, const float* base, int64_t row) {
    const int64_t H = c.p.heads, h = row % H, bt = row / H, N = c.tokens;
    return base + ((bt / N) * H * N + h * N + bt % N) * c.weights_stride;
  }
  static NATTEN_FORCE_INLINE float* weights_row(const NACall& c, float* base, int64_t row) {
    return const_cast<float*>(weights_row(c, static_cast<const float*>(base), row));
  }

  // Key row (a, b) of a tile: position a of the first axis' window, b steps of the dilation from the middle
  // axis' first key row. Returns its line (index over the leading axes' positions); *ry: its rpb offset on them.
  static NATTEN_FORCE_INLINE int64_t key_line(const NACall& c, const Tile& tl, int a, int b, int* ry) {
    const Problem& p = c.p;
    *ry = ((c.win_rpb[0][tl.z] + a) * (2 * p.kernel[1] - 1) + b) * (2 * p.kernel[2] - 1);
    return static_cast<int64_t>(c.win_first[0][tl.z] + a * p.dilation[0]) * p.length[1] + tl.f1 + b * p.dilation[1];
  }

  // A tile's columns of key line `line` in a transposed tensor (bu.kt0 or bu.vt0, rows of `dim` values per line):
  // from the tile's first key, lanes t_pitch floats apart (in pairs with kPairs).
  static NATTEN_FORCE_INLINE const float* line_cols(const BlockUnit& bu, const Tile& tl, const float* base,
                                                    int64_t line, int dim) {
    return base + line * dim * bu.c.t_pitch + (kPairs ? 2 : 1) * tl.lo;
  }

  // One query head of one tile: queries [I0, I0 + TN) of it (slot l * TQ + i: line l, x offset i) against
  // the key rows whose position on the middle axis is in [r_lo, r_hi) (counted from the tile's first, in
  // steps of the dilation), every position of the first axis. qr, dor, dq: the tile's q, dO and dq sums in
  // registers (NV > 0), indexed by slot.
  template <int TQ, int NK, int NV, int I0, int TN>
  static NATTEN_FORCE_INLINE void tile_rows(const BlockUnit& bu, const Tile& tl, int r_lo, int r_hi,
                                            const RV (*qr)[NV > 0 ? NV : 1], const RV (*dor)[NV > 0 ? NV : 1],
                                            RV (*dq)[NV > 0 ? NV : 1], int* wrow) {
    const NACall& c = bu.c;
    const bool kept = c.weights_in != nullptr;
    const Problem& p = c.p;
    constexpr int LN = NK * W;
    constexpr int NR = NV > 0 ? NV : 1;
    const int D = NV > 0 ? NV * RW : bu.D, Dv = NV > 0 ? NV * RW : bu.Dv, L2 = bu.L2;
    const int nb = r_hi - r_lo;
    if (nb <= 0) return;
    const int n0 = c.win_count[0][tl.z];
    const V vscale = S::set1(p.scale);
    alignas(32) float pg[TN][LN];  // P
    alignas(32) float gg[TN][LN];  // scale * dS
    alignas(32) float bias[LN];
    const float* krows[LN];
    constexpr int A = TN * NK, GM = group_rows(A);
    // Lanes of vector k inside query i's window (the same for every key row).
    V keep[TN][NK];
    for (int i = 0; i < TN; ++i) {
      const int x = (I0 + i) % TQ;
      for (int k = 0; k < NK; ++k) keep[i][k] = S::range_mask(tl.win_lo[x] - W * k, tl.win_hi[x] - W * k);
    }
    const int rows = n0 * nb;
    for (int r0 = 0; r0 < rows; r0 += GM) {
      const int gn = imin(GM, rows - r0);
      int64_t kbs[GM] = {};
      int rys[GM];
      const float* kcols[GM];
      const float* vcols[GM];
      for (int g = 0; g < gn; ++g) {
        const int64_t line = key_line(c, tl, (r0 + g) / nb, r_lo + (r0 + g) % nb, &rys[g]);
        kbs[g] = line * L2 + tl.lo;  // the key token of lane 0
        kcols[g] = kept ? nullptr : line_cols(bu, tl, bu.kt0, line, D);
        vcols[g] = line_cols(bu, tl, bu.vt0, line, Dv);
      }
      V scs[GM * A], dps[GM * A];
      if (!kept) lane_dots_n<TN, NK>(gn, tl.q + I0, kcols, c.t_pitch, D, scs);
      lane_dots_n<TN, NK>(gn, tl.dO + I0, vcols, c.t_pitch, Dv, dps);
      for (int g = 0; g < gn; ++g) {
        const int64_t kb = kbs[g];
        const int ry = rys[g];
        const V* sc = scs + g * A;
        const V* dp = dps + g * A;
        for (int i = 0; i < TN; ++i) {
          const int x = (I0 + i) % TQ, l = (I0 + i) / TQ;
          const int wl = tl.win_lo[x], wh = tl.win_hi[x];
          if (tl.rpb_h != nullptr && !kept) {
            fill(bias, LN, 0.0f);
            const float* r = tl.rpb_h + ry + tl.rpb_y[l] + tl.rpb_x[x];
            for (int j = wl; j < wh; ++j) bias[j] = r[j];
          }
          const V vlse = S::set1(tl.lse[I0 + i]), vdelta = S::set1(tl.delta[I0 + i]);
          for (int k = 0; k < NK; ++k) {
            V pr;
            if (kept) {
              pr = S::load(tl.weights_in[I0 + i] + wrow[I0 + i] * LN + W * k);
            } else {
              V s = S::mul(sc[i * NK + k], vscale);
              if (tl.rpb_h != nullptr) s = S::add(s, S::load(bias + W * k));
              pr = S::keep(S::exp(S::sub(s, vlse)), keep[i][k]);
            }
            const V ds = S::keep(S::mul(pr, S::sub(dp[i * NK + k], vdelta)), keep[i][k]);
            S::store(pg[i] + W * k, pr);
            S::store(gg[i] + W * k, S::mul(ds, vscale));
            if (tl.drpb_h != nullptr) S::store(bias + W * k, ds);
          }
          ++wrow[I0 + i];
          if (tl.drpb_h != nullptr) {
            double* r = tl.drpb_h + ry + tl.rpb_y[l] + tl.rpb_x[x];
            for (int j = wl; j < wh; ++j) r[j] += bias[j];
          }
        }
        if (NV > 0) {
          // dq_i += sum_j scale dS_ij k_j; dk_j += sum_i scale dS_ij q_i; dv_j += sum_i P_ij dO_i: three
          // loops, each with few enough vectors live to stay in registers. dq's loads each key row of the run
          // once for every query of the tile: outside a query's window its dS is exactly zero and the key finite
          // (the blocked backward runs only on finite keys), so those terms add exact zeros and each query's sum
          // is the one over its own window, in the same order.
          const int span = tl.span;
          {
            const float* k = bu.key0 + kb * bu.kstride;
            for (int j = 0; j < span; ++j, k += bu.kstride) {
              RV kr[NR];
              for (int v = 0; v < NR; ++v) kr[v] = R::load(k + RW * v);
              for (int i = 0; i < TN; ++i) {
                const RV gv = R::set1(gg[i][j]);
                for (int v = 0; v < NR; ++v) dq[I0 + i][v] = R::fmadd(gv, kr[v], dq[I0 + i][v]);
              }
            }
          }
          // The run's gradient rows: evenly spaced when its keys are all in the unit's own range or all in one
          // part of its halo (nearly always), else found key by key. dk and dv share the unit's parts.
          const int region = key_region(bu.dk, kb);
          const bool even = region == key_region(bu.dk, kb + span - 1);
          float* const dk0 = key_row(bu.dk, kb);
          float* const dv0 = key_row(bu.dv, kb);
          const int64_t dks = region == 1 ? bu.dk.stride : bu.dk.width;
          const int64_t dvs = region == 1 ? bu.dv.stride : bu.dv.width;
          for (int j = 0; j < span; ++j) {
            update_row<TN, NR>(&gg[0][j], LN, qr + I0, even ? dk0 + j * dks : key_row(bu.dk, kb + j));
          }
          for (int j = 0; j < span; ++j) {
            update_row<TN, NR>(&pg[0][j], LN, dor + I0, even ? dv0 + j * dvs : key_row(bu.dv, kb + j));
          }
        } else {
          for (int j = 0; j < tl.span; ++j) krows[j] = bu.key0 + (kb + j) * bu.kstride;
          // dq over each query's own window, as above.
          for (int i = 0; i < TN; ++i) {
            const int wl = tl.win_lo[(I0 + i) % TQ];
            combine(gg[i] + wl, 1, krows + wl, tl.win_hi[(I0 + i) % TQ] - wl, 1.0f, D,
                    bu.dq + static_cast<int64_t>(I0 + i) * D);
          }
          for (int j = 0; j < tl.span; ++j) {
            combine(&gg[0][j], LN, tl.q + I0, TN, 1.0f, D, key_row(bu.dk, kb + j));
            combine(&pg[0][j], LN, tl.dO + I0, TN, 1.0f, Dv, key_row(bu.dv, kb + j));
          }
        }
      }
    }
  }

  // One query head of one tile of NL lines. NV > 0: headDim = headDimV = NV * RW, rows held in registers;
  // NV = 0: any head dims (multiples of W), rows combined from memory.
  // Returns false when a query or output-gradient row of the tile holds Inf or NaN (the caller then reruns
  // the call with the per-row kernel: masked lanes multiply them by zero).
  template <int TQ, int NK, int NV, int NL>
  static bool blocked_tile(const BlockUnit& bu, const Tile& tl) {
    constexpr int TS = TQ * NL;
    const int D = NV > 0 ? NV * RW : bu.D, Dv = NV > 0 ? NV * RW : bu.Dv;
    constexpr int NR = NV > 0 ? NV : 1;
    RV qr[TS][NR], dor[TS][NR], dq[TS][NR];  // NV > 0: q, dO and the dq sums in registers
    if (NV > 0) {
      const RV zero = R::zero();
      RV bad = zero;  // stays 0 unless a q or dO value is Inf or NaN
      for (int i = 0; i < TS; ++i) {
        for (int v = 0; v < NR; ++v) {
          qr[i][v] = R::load(tl.q[i] + RW * v);
          dor[i][v] = R::load(tl.dO[i] + RW * v);
          dq[i][v] = zero;
          bad = R::add(bad, R::add(R::mul(qr[i][v], zero), R::mul(dor[i][v], zero)));
        }
      }
      if (R::hsum(bad) != 0.0f) {
        return false;
      }
    } else {
      const V zero = S::zero();
      V bad = zero;
      fill(bu.dq, static_cast<int64_t>(TS) * D, 0.0f);
      for (int i = 0; i < TS; ++i) {
        for (int d = 0; d < D; d += W) bad = S::add(bad, S::mul(S::load(tl.q[i] + d), zero));
        for (int d = 0; d < Dv; d += W) bad = S::add(bad, S::mul(S::load(tl.dO[i] + d), zero));
      }
      if (S::hsum(bad) != 0.0f) {
        return false;
      }
    }
    // Middle-axis key rows seen by line 0 only, by both lines, by line 1 only (see Tile::rows).
    // With the forward's weights: each slot's next row of them (the forward wrote them in this same order).
    int wrow[TS] = {};
    tile_rows<TQ, NK, NV, 0, TQ>(bu, tl, tl.rows[0], tl.rows[1], qr, dor, dq, wrow);
    if (NL == 2) {
      tile_rows<TQ, NK, NV, 0, 2 * TQ>(bu, tl, tl.rows[2], tl.rows[3], qr, dor, dq, wrow);
      tile_rows<TQ, NK, NV, (NL == 2 ? TQ : 0), TQ>(bu, tl, tl.rows[4], tl.rows[5], qr, dor, dq, wrow);
    }
    for (int i = 0; i < TS; ++i) {
      if (NV > 0) {
        store_row<NR>(tl.d_query[i], dq[i]);
      } else {
        memcpy(tl.d_query[i], bu.dq + static_cast<int64_t>(i) * D, sizeof(float) * D);
      }
    }
    return true;
  }

  using TileFn = bool (*)(const BlockUnit&, const Tile&);

  // The tile kernels by kind, for tile_fn: the backward's and (below) the forward's.
  struct BackwardTile {
    template <int TQ, int NK, int NV, int NL>
    static bool run(const BlockUnit& bu, const Tile& tl) { return blocked_tile<TQ, NK, NV, NL>(bu, tl); }
    // Head dims 64 and 128 in registers too where rows are 8 floats (AVX2, AVX-512 on 256-bit rows, portable):
    // NV = 8 and 16. Driver, AVX2, one thread, fastest backward against NV = 0 (bench/RESULTS.md): head dim 64
    // 19.8-22.4 ms against 23.4-24.5, 128 36.7-38.8 against 40.8-42.0. The forward's tile is not built at NV = 8
    // (no faster in a trial).
    static constexpr bool kLongRows = RW == 8;
  };

  // The kind K's tile kernel for tq queries per line, nk key vectors, nl lines and the head dims: rows in
  // registers (NV > 0) where headDim == headDimV is one to four row vectors (or 64 or 128 floats, where
  // K::kLongRows), else NV = 0.
  template <class K, int NK, int NV, int NL>
  static TileFn tile_fn(int tq) {
    switch (tq) {
      case 1: return K::template run<1, NK, NV, NL>;
      case 2: return K::template run<2, NK, NV, NL>;
      case 3: return K::template run<3, NK, NV, NL>;
      default: return K::template run<4, NK, NV, NL>;
    }
  }

  template <class K, int NK, int NL>
  static TileFn tile_fn(int tq, int D, int Dv) {
    if (D == Dv) {
      switch (D) {
        case RW: return tile_fn<K, NK, 1, NL>(tq);
        case 2 * RW: return tile_fn<K, NK, 2, NL>(tq);
        case 3 * RW: return tile_fn<K, NK, 3, NL>(tq);
        case 4 * RW: return tile_fn<K, NK, 4, NL>(tq);
        case 8 * RW:  // 64 floats where K::kLongRows
          if constexpr (K::kLongRows) return tile_fn<K, NK, 8, NL>(tq);
          break;
        case 16 * RW:  // 128 floats where K::kLongRows
          if constexpr (K::kLongRows) return tile_fn<K, NK, 16, NL>(tq);
          break;
        default: break;
      }
    }
    return tile_fn<K, NK, 0, NL>(tq);
  }

  template <class K>
  static TileFn tile_fn(int nk, int nl, int tq, int D, int Dv) {
    if (nl == 2) return nk == 1 ? tile_fn<K, 1, 2>(tq, D, Dv) : tile_fn<K, 2, 2>(tq, D, Dv);
    return nk == 1 ? tile_fn<K, 1, 1>(tq, D, Dv) : tile_fn<K, 2, 1>(tq, D, Dv);
  }

  // Whether query lines y and y + dilation of the middle axis pair up in one tile: windows monotone (the
  // second's neither starts nor ends before the first's), which the spec's windows always are; checked,
  // so that a pair never depends on it.
  static bool lines_pair(const NACall& c, int y) {
    const int d = c.p.dilation[1];
    if ((y / d) % 2 != 0 || y + d >= c.p.length[1]) return false;
    const int32_t* first = c.win_first[1];
    const int32_t* count = c.win_count[1];
    return first[y + d] >= first[y] && first[y + d] + count[y + d] * d >= first[y] + count[y] * d;
  }

  // Runs the kind K's tile kernel on every tile of a unit (one batch, one kv head, a token range) and every query
  // head of that kv head: slot(tl, s, row) points slot s of the tile at its query's row (slot l * tq + i: line l,
  // x offset i), head(tl, h) sets what else head h needs; tl's geometry (its queries' windows, key rows and rpb
  // offsets) and rpb_h are filled here. Stops and returns false when a tile kernel does.
  template <class K, class Slot, class Head>
  static bool walk_tiles(const BlockUnit& bu, Slot&& slot, Head&& head) {
    const NACall& c = bu.c;
    const UnitPos& pos = bu.pos;
    const Problem& p = c.p;
    const int64_t N = c.tokens;
    const int Hpk = c.heads_per_kv, H = p.heads, NK = c.tile_lanes / W;
    const int L1 = p.length[1], L2 = p.length[2];
    const int32_t* first = c.win_first[2];
    const int32_t* count = c.win_count[2];
    const int dil1 = p.dilation[1], r2 = 2 * p.kernel[2] - 1;
    for (int64_t t = pos.t0; t < pos.t1;) {
      // The line of t; with c.tile_lines == 2, a whole line of the unit whose partner line (y + dilation, same
      // dilation group of the middle axis) is a whole line of the unit too goes with it, and the partner is
      // skipped when the loop reaches it.
      const int64_t line = t / L2, line_start = line * L2, line_end = line_start + L2;
      const int y = static_cast<int>(line % L1);
      const int64_t step = static_cast<int64_t>(dil1) * L2;
      int nl = 1;
      if (c.tile_lines == 2 && t == line_start) {
        if (lines_pair(c, y) && line_end + step <= pos.t1) {
          nl = 2;
        } else if (y >= dil1 && lines_pair(c, y - dil1) && line_start - step >= pos.t0 && line_end <= pos.t1) {
          t = line_end;  // done with its partner
          continue;
        }
      }
      Tile tl;
      tl.z = static_cast<int>(line / L1);
      tl.f1 = c.win_first[1][y];
      const int end0 = c.win_count[1][y];
      tl.rpb_y[0] = c.win_rpb[1][y] * r2;
      if (nl == 1) {
        tl.rows[0] = 0;
        tl.rows[1] = end0;
        tl.rows[2] = tl.rows[3] = tl.rows[4] = tl.rows[5] = 0;
      } else {
        const int off1 = (c.win_first[1][y + dil1] - tl.f1) / dil1, end1 = off1 + c.win_count[1][y + dil1];
        tl.rows[0] = 0;
        tl.rows[1] = imin(off1, end0);
        tl.rows[2] = off1;
        tl.rows[3] = end0;  // empty when off1 >= end0
        tl.rows[4] = imax(off1, end0);
        tl.rows[5] = end1;
        tl.rpb_y[1] = (c.win_rpb[1][y + dil1] - off1) * r2;
      }
      const int64_t t_end = imin64(pos.t1, line_end);
      while (t < t_end) {
        const int x = static_cast<int>(t - line_start);
        int lo = first[x], hi = lo + count[x], tq = 1;
        while (tq < kTileQueries && t + tq < t_end) {
          const int f = first[x + tq];
          const int nlo = imin(lo, f), nhi = imax(hi, f + count[x + tq]);
          if (nhi - nlo > c.tile_lanes) break;
          lo = nlo;
          hi = nhi;
          ++tq;
        }
        tl.lo = lo;
        tl.span = hi - lo;
        for (int i = 0; i < tq; ++i) {
          tl.win_lo[i] = first[x + i] - lo;
          tl.win_hi[i] = tl.win_lo[i] + count[x + i];
          tl.rpb_x[i] = c.win_rpb[2][x + i] - tl.win_lo[i];
        }
        const TileFn fn = tile_fn<K>(NK, nl, tq, bu.D, bu.Dv);
        for (int h = pos.hk * Hpk; h < (pos.hk + 1) * Hpk; ++h) {
          for (int l = 0; l < nl; ++l) {
            for (int i = 0; i < tq; ++i) slot(tl, l * tq + i, (static_cast<int64_t>(pos.b) * N + t + l * step + i) * H + h);
          }
          tl.rpb_h = c.rpb == nullptr ? nullptr : c.rpb + static_cast<int64_t>(h) * c.rpb_volume;
          head(tl, h);
          if (!fn(bu, tl)) return false;
        }
        t += tq;
      }
      if (nl == 2) t = line_end;
    }
    return true;
  }

  static void na_backward_blocked(const NACall& c, int64_t u) {
    const Problem& p = c.p;
    BlockUnit bu{c, unit_pos(c, u), p.head_dim, p.head_dim_v, p.length[1], p.length[2], nullptr, 0, nullptr,
                 nullptr, {}, {}, nullptr};
    const UnitPos& pos = bu.pos;
    const int D = bu.D, Dv = bu.Dv, L2 = bu.L2;
    const int64_t N = c.tokens, kvs = p.heads_kv;
    bu.key0 = c.key_rows + (pos.b * N * kvs + pos.hk * c.key_head_stride) * D;
    bu.kstride = c.key_token_stride * D;
    const int64_t group = static_cast<int64_t>(pos.b) * kvs + pos.hk;
    const int64_t lines = N / L2;
    bu.kt0 = c.key_t == nullptr ? nullptr : c.key_t + group * lines * D * c.t_pitch;  // null with weights_in
    bu.vt0 = c.value_t + group * lines * Dv * c.t_pitch;
    const ChunkHalo& halo = c.halos[pos.chunk];
    bu.dk = key_side(c, u, pos, c.d_key, c.d_key_halo, D);
    bu.dv = key_side(c, u, pos, c.d_value, c.d_value_halo, Dv);
    clear_key_side(bu.dk, halo);
    clear_key_side(bu.dv, halo);
    double* drpb = rpb_part(c, u);
    bu.dq = row_scratch(1, kTileSlots * imax(D, Dv)).gbuf;
    const int Hpk = c.heads_per_kv;
    const bool done = walk_tiles<BackwardTile>(
        bu,
        [&](Tile& tl, int slot, int64_t row) {
          tl.q[slot] = c.query + row * D;
          tl.dO[slot] = c.d_output + row * Dv;
          tl.lse[slot] = c.lse[row];
          tl.delta[slot] = c.delta[row];
          tl.d_query[slot] = c.d_query + row * D;
          if (c.weights_in != nullptr) tl.weights_in[slot] = weights_row(c, c.weights_in, row);
        },
        [&](Tile& tl, int h) {
          tl.drpb_h = drpb == nullptr ? nullptr : drpb + static_cast<int64_t>(h - pos.hk * Hpk) * c.rpb_volume;
        });
    simd::stream_fence();
    if (!done) c.nonfinite[u] = 1;
  }

  // ---------------------------------------------------------------------------------------------------
  // Blocked fused forward: the blocked backward's tiles (same conditions, plus headDim == headDimV == NV * RW
  // with NV <= 4), for the forward. Per key row of a tile, S = Q K^T comes out with keys in lanes from the
  // transposed key (lane_dots; a query's lanes outside its window set to -Inf); every score of the tile's
  // queries is kept (in `sbuf`, at most kernel[0] * kernel[1] rows of tile_lanes per query) until the tile's
  // maxima are known, so the softmax is exact with no rescaling; then P = exp(S - max), and O += P V with the
  // value's rows (head-major when staged), each value row loaded once for all the tile's queries that see it.

  // One pass over the key rows [r_lo, r_hi) (as tile_rows) for queries [I0, I0 + TN) of the tile. PV false:
  // scores into sbuf and their running maxima into vmax. PV true: probabilities from sbuf, their sums into
  // vsum, O += P V into acc. cur: per slot, the next row of its sbuf (both passes visit rows in one order).
  template <int TQ, int NK, int NV, int I0, int TN, bool PV>
  static NATTEN_FORCE_INLINE void forward_rows(const BlockUnit& bu, const Tile& tl, int r_lo, int r_hi,
                                               float* sbuf, int srows, int* cur, V* vmax, V* vsum,
                                               const float* mx, RV (*acc)[NV]) {
    const NACall& c = bu.c;
    const Problem& p = c.p;
    constexpr int LN = NK * W;
    constexpr int D = NV * RW;
    const int L2 = bu.L2;
    const int nb = r_hi - r_lo;
    if (nb <= 0) return;
    const int n0 = c.win_count[0][tl.z];
    constexpr int A = TN * NK, GM = group_rows(A);
    alignas(32) float pg[TN][LN];
    alignas(32) float bias[LN];
    // Per query and lane vector: 0 inside the query's window, -Inf outside (added to masked-to-zero scores).
    V keep[TN][NK], outside[TN][NK];
    for (int i = 0; i < TN; ++i) {
      const int x = (I0 + i) % TQ;
      for (int k = 0; k < NK; ++k) {
        keep[i][k] = S::range_mask(tl.win_lo[x] - W * k, tl.win_hi[x] - W * k);
        alignas(32) float o[W];
        for (int j = 0; j < W; ++j) {
          const int lane = W * k + j;
          o[j] = lane >= tl.win_lo[x] && lane < tl.win_hi[x] ? 0.0f : -INFINITY;
        }
        outside[i][k] = S::load(o);
      }
    }
    const V vscale = S::set1(p.scale);
    const int rows = n0 * nb;
    for (int r0 = 0; r0 < rows; r0 += GM) {
      const int gn = imin(GM, rows - r0);
      int64_t kbs[GM] = {};
      int rys[GM];
      const float* kcols[GM];
      for (int g = 0; g < gn; ++g) {
        const int64_t line = key_line(c, tl, (r0 + g) / nb, r_lo + (r0 + g) % nb, &rys[g]);
        kbs[g] = line * L2 + tl.lo;
        if (!PV) kcols[g] = line_cols(bu, tl, bu.kt0, line, D);  // scores only
      }
      V scs[GM * A];
      if (!PV) lane_dots_n<TN, NK>(gn, tl.q + I0, kcols, c.t_pitch, D, scs);
      for (int g = 0; g < gn; ++g) {
        for (int i = 0; i < TN; ++i) {
          const int slot = I0 + i;
          float* srow = sbuf + (static_cast<int64_t>(slot) * srows + cur[slot]++) * LN;
          if (!PV) {
            const int x = slot % TQ, l = slot / TQ;
            if (tl.rpb_h != nullptr) {
              fill(bias, LN, 0.0f);
              const float* r = tl.rpb_h + rys[g] + tl.rpb_y[l] + tl.rpb_x[x];
              for (int j = tl.win_lo[x]; j < tl.win_hi[x]; ++j) bias[j] = r[j];
            }
            for (int k = 0; k < NK; ++k) {
              V sv = S::mul(scs[g * A + i * NK + k], vscale);
              if (tl.rpb_h != nullptr) sv = S::add(sv, S::load(bias + W * k));
              sv = S::add(S::keep(sv, keep[i][k]), outside[i][k]);
              S::store(srow + W * k, sv);
              vmax[slot] = S::max(vmax[slot], sv);
            }
          } else {
            const V m = S::set1(mx[slot]);
            for (int k = 0; k < NK; ++k) {
              // Exactly 0 outside the window, whatever exp gives there (it gives 0 for the -Inf scores; a weight
              // of 2^-126 would carry a value near float's largest into the output, 2^-126 * 1e38 being about 1).
              const V pr = S::keep(S::exp(S::sub(S::load(srow + W * k), m)), keep[i][k]);
              S::store(pg[i] + W * k, pr);
              if (bu.c.weights_out != nullptr) S::store(srow + W * k, pr);  // kept for the weights (forward_tile)
              vsum[slot] = S::add(vsum[slot], pr);
            }
          }
        }
        if (PV) {
          const float* v0 = bu.key0 + kbs[g] * bu.kstride;  // the value's rows (key0 / kstride: see na_forward_blocked)
          for (int j = 0; j < tl.span; ++j) {
            const float* vr = v0 + j * bu.kstride;
            RV vv[NV];
            for (int v = 0; v < NV; ++v) vv[v] = R::load(vr + RW * v);
            for (int i = 0; i < TN; ++i) {
              const RV pv = R::set1(pg[i][j]);
              for (int v = 0; v < NV; ++v) acc[I0 + i][v] = R::fmadd(pv, vv[v], acc[I0 + i][v]);
            }
          }
        }
      }
    }
  }

  // One pass of forward_rows over every key row of a tile (the rows each line sees alone, then both).
  template <int TQ, int NK, int NV, int NL, bool PV>
  static NATTEN_FORCE_INLINE void forward_pass(const BlockUnit& bu, const Tile& tl, float* sbuf, int srows, int* cur,
                                               V* vmax, V* vsum, const float* mx, RV (*acc)[NV]) {
    forward_rows<TQ, NK, NV, 0, TQ, PV>(bu, tl, tl.rows[0], tl.rows[1], sbuf, srows, cur, vmax, vsum, mx, acc);
    if (NL == 2) {
      forward_rows<TQ, NK, NV, 0, 2 * TQ, PV>(bu, tl, tl.rows[2], tl.rows[3], sbuf, srows, cur, vmax, vsum, mx, acc);
      forward_rows<TQ, NK, NV, (NL == 2 ? TQ : 0), TQ, PV>(bu, tl, tl.rows[4], tl.rows[5], sbuf, srows, cur, vmax,
                                                           vsum, mx, acc);
    }
  }

  // One query head of one tile of NL lines: both passes, then each query's output row and logsumexp.
  template <int TQ, int NK, int NV, int NL>
  static bool forward_tile(const BlockUnit& bu, const Tile& tl) {
    constexpr int TS = TQ * NL;
    float* sbuf = bu.scores;
    const int srows = bu.score_rows;
    int cur[TS];
    V vmax[TS], vsum[TS];
    float mx[TS];
    RV acc[TS][NV];
    for (int i = 0; i < TS; ++i) {
      cur[i] = 0;
      vmax[i] = S::set1(-INFINITY);
      vsum[i] = S::zero();
      for (int v = 0; v < NV; ++v) acc[i][v] = R::zero();
    }
    forward_pass<TQ, NK, NV, NL, false>(bu, tl, sbuf, srows, cur, vmax, vsum, mx, acc);
    for (int i = 0; i < TS; ++i) {
      cur[i] = 0;
      mx[i] = S::hmax(vmax[i]);
    }
    forward_pass<TQ, NK, NV, NL, true>(bu, tl, sbuf, srows, cur, vmax, vsum, mx, acc);
    for (int i = 0; i < TS; ++i) {
      const float sum = S::hsum(vsum[i]);
      const RV inv = R::set1(1.0f / sum);
      for (int v = 0; v < NV; ++v) acc[i][v] = R::mul(acc[i][v], inv);
      store_row<NV>(tl.out[i], acc[i]);
      if (bu.c.weights_out != nullptr) {
        // The weights P = exp(S - max) / sum of the slot's rows, in the order both passes visited them (the
        // backward's tile_rows visits them in the same order). Plain stores, not streamed: the buffer is reused
        // from call to call (na_native.ts) and the cache keeps part of it for the backward (2d preset, driver, 2
        // threads: forward 1.31-1.39 ms and backward 2.01-2.06 stored, 1.48-1.53 and 2.04-2.13 streamed).
        constexpr int LN = NK * W;
        const V vinv = S::set1(1.0f / sum);
        const float* src = sbuf + static_cast<int64_t>(i) * srows * LN;
        float* dst = tl.weights_out[i];
        for (int r = 0; r < cur[i] * NK; ++r) S::store(dst + W * r, S::mul(S::load(src + W * r), vinv));
      }
      *tl.lse_out[i] = logf(sum) + mx[i];
    }
    return true;
  }

  struct ForwardTile {
    static constexpr bool kLongRows = false;  // na_cpu.cc takes head dims of at most four row vectors here
    // NV = 0 (head dims not in registers) never reaches the forward: na_cpu.cc checks its dims first.
    template <int TQ, int NK, int NV, int NL>
    static bool run(const BlockUnit& bu, const Tile& tl) {
      if constexpr (NV == 0) {
        return false;
      } else {
        return forward_tile<TQ, NK, NV, NL>(bu, tl);
      }
    }
  };

  static void na_forward_blocked(const NACall& c, int64_t u) {
    const Problem& p = c.p;
    BlockUnit bu{c, unit_pos(c, u), p.head_dim, p.head_dim_v, p.length[1], p.length[2], nullptr, 0, nullptr,
                 nullptr, {}, {}, nullptr};
    const UnitPos& pos = bu.pos;
    const int D = bu.D, L2 = bu.L2;
    const int64_t N = c.tokens, kvs = p.heads_kv;
    // key0 / kstride: the value's rows here (the forward sums over values; the key is read transposed).
    bu.key0 = c.key_rows + (pos.b * N * kvs + pos.hk * c.key_head_stride) * D;
    bu.kstride = c.key_token_stride * D;
    const int64_t group = static_cast<int64_t>(pos.b) * kvs + pos.hk;
    bu.kt0 = c.key_t + group * (N / L2) * D * c.t_pitch;
    bu.score_rows = p.kernel[0] * p.kernel[1];
    bu.scores = row_scratch(kTileSlots * bu.score_rows * kTileLanes, 0).scores;
    walk_tiles<ForwardTile>(
        bu,
        [&](Tile& tl, int slot, int64_t row) {
          tl.q[slot] = c.query + row * D;
          tl.out[slot] = c.out + row * D;
          tl.lse_out[slot] = c.out_lse + row;
          if (c.weights_out != nullptr) tl.weights_out[slot] = weights_row(c, c.weights_out, row);
        },
        [&](Tile& tl, int) { tl.drpb_h = nullptr; });
    simd::stream_fence();
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

  // The blocked backward's transposed key: to[d * pitch + x] = from[x * stride + d] for the L tokens x of
  // one line and d < width (a multiple of W), zeros for x in [L, pitch) (pitch >= L rounded up to W); with
  // `rows_to`, the same loads also copy the line's rows there (row x at rows_to + x * width: the head-major
  // staging of na_cpu.cc, made in the same pass). Returns whether every value was finite.
  static bool transpose_line(const float* from, int64_t stride, int L, int width, float* to, int64_t pitch,
                             float* rows_to) {
    const V zero = S::zero();
    V bad[4] = {zero, zero, zero, zero};  // stay 0 unless some value is Inf or NaN (four chains: no add waits)
    if constexpr (kPairs) {
      // Column pair p of token x at to[2 (p * pitch + x)]: a transpose of pairs, four tokens by four pairs
      // at a time; zeros for x in [L, pitch).
      for (int x0 = 0; x0 < L; x0 += 4) {
        const int n = imin(4, L - x0);
        for (int d0 = 0; d0 < width; d0 += W) {
          V r[4];
          for (int j = 0; j < 4; ++j) {
            r[j] = j < n ? S::load(from + (x0 + j) * stride + d0) : zero;
            bad[j] = S::add(bad[j], S::mul(r[j], zero));
            if (rows_to != nullptr && j < n) S::store(rows_to + (x0 + j) * width + d0, r[j]);
          }
          S::transpose4_pairs(r);
          for (int j = 0; j < 4; ++j) S::store(to + (d0 / 2 + j) * 2 * pitch + 2 * x0, r[j]);
        }
      }
      const int64_t done = (L + 3) / 4 * 4;
      for (int d = 0; d < width; d += 2) fill(to + d * pitch + 2 * done, 2 * (pitch - done), 0.0f);
      return S::hsum(S::add(S::add(bad[0], bad[1]), S::add(bad[2], bad[3]))) == 0.0f;
    }
    for (int x0 = 0; x0 < L; x0 += W) {
      const int n = imin(W, L - x0);
      for (int d0 = 0; d0 < width; d0 += W) {
        V r[W];
        for (int j = 0; j < W; ++j) {
          r[j] = j < n ? S::load(from + (x0 + j) * stride + d0) : zero;
          bad[j % 4] = S::add(bad[j % 4], S::mul(r[j], zero));
          if (rows_to != nullptr && j < n) S::store(rows_to + (x0 + j) * width + d0, r[j]);
        }
        S::transpose8(r);
        for (int j = 0; j < W; ++j) S::store(to + (d0 + j) * pitch + x0, r[j]);
      }
    }
    const int64_t done = round_up(L);
    for (int d = 0; d < width; ++d) fill(to + d * pitch + done, pitch - done, 0.0f);
    return S::hsum(S::add(S::add(bad[0], bad[1]), S::add(bad[2], bad[3]))) == 0.0f;
  }

  // The blocked forward's value: whether the L rows of one line (from + x * stride, width floats each, a
  // multiple of W) are finite, copying them to rows_to + x * width when rows_to is given (head-major staging).
  static bool stage_line(const float* from, int64_t stride, int L, int width, float* rows_to) {
    const V zero = S::zero();
    V bad[2] = {zero, zero};
    for (int x = 0; x < L; ++x) {
      const float* r = from + x * stride;
      for (int d = 0; d < width; d += W) {
        const V v = S::load(r + d);
        bad[(d / W) % 2] = S::add(bad[(d / W) % 2], S::mul(v, zero));
        if (rows_to != nullptr) S::store(rows_to + static_cast<int64_t>(x) * width + d, v);
      }
    }
    return S::hsum(S::add(bad[0], bad[1])) == 0.0f;
  }

  // The backward's row terms: delta[r] = dot(o[r], d[r]) - (d_lse ? d_lse[r] : 0) for `rows` rows of n floats.
  static void row_deltas(const float* o, const float* d, const float* d_lse, int64_t rows, int n, float* delta) {
    const int nv = n / W * W;
    for (int64_t r = 0; r < rows; ++r) {
      const float* a = o + r * n;
      const float* b = d + r * n;
      V acc[2] = {S::zero(), S::zero()};
      int i = 0;
      for (; i + 2 * W <= nv; i += 2 * W) {
        acc[0] = S::fmadd(S::load(a + i), S::load(b + i), acc[0]);
        acc[1] = S::fmadd(S::load(a + i + W), S::load(b + i + W), acc[1]);
      }
      if (i < nv) acc[0] = S::fmadd(S::load(a + i), S::load(b + i), acc[0]);
      float s = S::hsum(S::add(acc[0], acc[1]));
      for (i = nv; i < n; ++i) s += a[i] * b[i];
      delta[r] = s - (d_lse != nullptr ? d_lse[r] : 0.0f);
    }
  }

  static KernelTable table() {
    return KernelTable{S::kName, na_forward, na_backward, na_backward_blocked, qk_forward, qk_backward, av_forward,
                       av_backward, transpose_line, row_deltas, na_forward_blocked, stage_line, RW};
  }
};

}  // namespace NATTEN_ISA
}  // namespace cpu
}  // namespace natten
