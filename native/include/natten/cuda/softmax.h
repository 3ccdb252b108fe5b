// The online softmax of the fused kernels, in registers. Each thread holds two rows of a 16-row m16n8
// C fragment (rows group and group + 8, elements {0, 1} and {2, 3}); the four lanes of a quad share a row.
// Scores arrive in the log2 domain (logit * log2(e)), so exp2 serves as exp and the natural logsumexp is
// (max + log2(sum)) * ln(2).
#pragma once

#include <cmath>

#include "natten/cuda/compat.h"

namespace natten {
namespace dev {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

NATTEN_DEVICE float quad_max(float v) {
  v = fmaxf(v, shfl_xor(v, 1));
  return fmaxf(v, shfl_xor(v, 2));
}

NATTEN_DEVICE float quad_sum(float v) {
  v += shfl_xor(v, 1);
  return v + shfl_xor(v, 2);
}

struct OnlineSoftmax {
  float row_max[2];  // running maximum of each row (log2 domain); -inf until a key is unmasked
  float row_sum[2];  // this lane's share of each row's running sum of exp2(score - row_max)

  NATTEN_DEVICE void init() {
    row_max[0] = row_max[1] = -INFINITY;
    row_sum[0] = row_sum[1] = 0.f;
  }

  // Folds one chunk of scores s (kN column tiles, -inf where masked) into the running state: s becomes the
  // unnormalized probabilities exp2(s - new max), and acc (the output so far, kO column tiles) is rescaled
  // by exp2(old max - new max). A row with every key masked so far keeps max -inf; exp2 is taken against 0
  // for it (never -inf - -inf), which leaves its probabilities and sum at 0. NaN scores propagate: fmaxf
  // skips them in the max, exp2(NaN) poisons the sum.
  //
  // kTree: the row's maximum and sum over the chunk as pairwise trees (depth log2(2 kN) instead of a chain of
  // 2 kN dependent instructions; kN a power of two); the sum's rounding differs in order only.
  // kLazy: the running maximum is a base that moves only when some row of the warp would exceed it by more than
  // kLazyMargin (a warp vote); otherwise the chunk is exponentiated against the old base and acc and the sums
  // are not rescaled (probabilities up to 2^kLazyMargin; the output and logsumexp are relative to the base, so
  // the results are the same up to rounding).
  static constexpr float kLazyMargin = 8.f;

  template <bool kTree = false, bool kLazy = false, int kN, int kO>
  NATTEN_DEVICE void update(float (&s)[kN][4], float (&acc)[kO][4]) {
    float m[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
      m[r] = row_max[r];
      if (kTree) {
        static_assert((kN & (kN - 1)) == 0, "tree reductions over a power of two of column tiles");
        float t[kN];
#pragma unroll
        for (int j = 0; j < kN; j++) {
          t[j] = fmaxf(s[j][2 * r], s[j][2 * r + 1]);
        }
#pragma unroll
        for (int w = kN / 2; w >= 1; w /= 2) {
#pragma unroll
          for (int j = 0; j < w; j++) {
            t[j] = fmaxf(t[j], t[j + w]);
          }
        }
        m[r] = fmaxf(m[r], t[0]);
      } else {
#pragma unroll
        for (int j = 0; j < kN; j++) {
          m[r] = fmaxf(m[r], fmaxf(s[j][2 * r], s[j][2 * r + 1]));
        }
      }
      m[r] = quad_max(m[r]);
    }
    bool rescale = true;
    if (kLazy) {
      rescale = any_sync(m[0] > row_max[0] + kLazyMargin || m[1] > row_max[1] + kLazyMargin);
    }
#pragma unroll
    for (int r = 0; r < 2; r++) {
      const float next = rescale ? m[r] : row_max[r];
      const float base = next == -INFINITY ? 0.f : next;
      if (rescale) {  // warp-uniform
        const float correction = fast_exp2(row_max[r] - base);
        row_max[r] = next;
        row_sum[r] *= correction;
#pragma unroll
        for (int o = 0; o < kO; o++) {
          acc[o][2 * r] *= correction;
          acc[o][2 * r + 1] *= correction;
        }
      }
      float sum = 0.f;
      if (kTree) {
        float t[kN];
#pragma unroll
        for (int j = 0; j < kN; j++) {
          s[j][2 * r] = fast_exp2(s[j][2 * r] - base);
          s[j][2 * r + 1] = fast_exp2(s[j][2 * r + 1] - base);
          t[j] = s[j][2 * r] + s[j][2 * r + 1];
        }
#pragma unroll
        for (int w = kN / 2; w >= 1; w /= 2) {
#pragma unroll
          for (int j = 0; j < w; j++) {
            t[j] += t[j + w];
          }
        }
        sum = t[0];
      } else {
#pragma unroll
        for (int j = 0; j < kN; j++) {
          s[j][2 * r] = fast_exp2(s[j][2 * r] - base);
          s[j][2 * r + 1] = fast_exp2(s[j][2 * r + 1] - base);
          sum += s[j][2 * r] + s[j][2 * r + 1];
        }
      }
      row_sum[r] += sum;
    }
  }

  // After the last chunk: 1 / (row sum) and the natural logsumexp of each row.
  NATTEN_DEVICE void finish(float (&inv_sum)[2], float (&lse)[2]) {
#pragma unroll
    for (int r = 0; r < 2; r++) {
      const float sum = quad_sum(row_sum[r]);
      inv_sum[r] = 1.f / sum;
      lse[r] = (row_max[r] + log2f(sum)) * kLn2;
    }
  }
};

}  // namespace dev
}  // namespace natten
