// TF32 tensor-core fragments for mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32, and the loads that
// build them from shared memory. Layouts (PTX ISA), with lane = 4 * group + quad (group 0..7, quad 0..3):
//   A, 16x8 row-major:  a0 = A[group][quad]      a1 = A[group + 8][quad]
//                       a2 = A[group][quad + 4]  a3 = A[group + 8][quad + 4]
//   B, 8x8 (k x n):     b0 = B[quad][group]      b1 = B[quad + 4][group]
//   C, 16x8 float:      c0 = C[group][2 quad]    c1 = C[group][2 quad + 1]
//                       c2 = C[group + 8][2 quad] c3 = C[group + 8][2 quad + 1]
//
// Scores S = Q K^T take the n axis (keys) in a permuted order: column n of an 8-key block reads key
// kKeyOfColumn(n) = n / 2 + 4 (n % 2). Then c0 and c2 belong to key `quad`, c1 and c3 to key `quad + 4`, which
// is exactly where the A fragment of the next product (P V, k = keys) wants them: A = (c0, c2, c1, c3). No
// shuffle is needed between the two products.
//
// Full float32 ("precise") splits each operand x into hi = tf32(x) and lo = tf32(x - hi) and accumulates
// lo*hi + hi*lo + hi*hi: three MMAs, with float32 accuracy (the dropped lo*lo term is below 2^-22 relative).
#pragma once

#include "natten/cuda/compat.h"

namespace natten {
namespace dev {

NATTEN_DEVICE int key_of_column(int n) { return (n >> 1) + ((n & 1) << 2); }

// Clears kN C fragments (accumulators).
template <int kN>
NATTEN_DEVICE void zero(float (&c)[kN][4]) {
#pragma unroll
  for (int i = 0; i < kN; i++) {
    c[i][0] = c[i][1] = c[i][2] = c[i][3] = 0.f;
  }
}

template <bool kPrecise>
struct FragA {
  uint32_t hi[4];
  uint32_t lo[4];
};

template <bool kPrecise>
struct FragB {
  uint32_t hi[2];
  uint32_t lo[2];
};

template <bool kPrecise>
NATTEN_DEVICE void split(float x, uint32_t& hi, uint32_t& lo) {
  hi = to_tf32(x);
  if (kPrecise) {
    lo = to_tf32(x - bits_float(hi));
  }
}

template <bool kPrecise>
NATTEN_DEVICE void make_a(FragA<kPrecise>& f, float x0, float x1, float x2, float x3) {
  split<kPrecise>(x0, f.hi[0], f.lo[0]);
  split<kPrecise>(x1, f.hi[1], f.lo[1]);
  split<kPrecise>(x2, f.hi[2], f.lo[2]);
  split<kPrecise>(x3, f.hi[3], f.lo[3]);
}

template <bool kPrecise>
NATTEN_DEVICE void make_b(FragB<kPrecise>& f, float x0, float x1) {
  split<kPrecise>(x0, f.hi[0], f.lo[0]);
  split<kPrecise>(x1, f.hi[1], f.lo[1]);
}

// d += a * b.
template <bool kPrecise>
NATTEN_DEVICE void mma(float (&d)[4], const FragA<kPrecise>& a, const FragB<kPrecise>& b) {
  if (kPrecise) {
    mma_tf32(d, a.lo, b.hi);
    mma_tf32(d, a.hi, b.lo);
  }
  mma_tf32(d, a.hi, b.hi);
}

// A fragment of rows [row0, row0 + 16) and columns [col0, col0 + 8) of a row-major tile (`stride` floats
// per row). `tile` points at element (row0, col0).
template <bool kPrecise>
NATTEN_DEVICE void load_a(FragA<kPrecise>& f, const float* tile, int stride, int group, int quad) {
  const float* p = tile + group * stride + quad;
  make_a<kPrecise>(f, p[0], p[8 * stride], p[4], p[8 * stride + 4]);
}

// Operands read from shared memory that the TF32 kernels already rounded there (see round_tf32_piece): their
// bits are the TF32 operand. float32 ("precise") splits them as usual.
template <bool kPrecise>
NATTEN_DEVICE void split_rounded(float x, uint32_t& hi, uint32_t& lo) {
  if (kPrecise) {
    split<true>(x, hi, lo);
  } else {
    hi = float_bits(x);
  }
}

// Rounds a 16-byte piece of shared memory to TF32 in place.
NATTEN_DEVICE void round_tf32_piece(float* piece) {
  float v[4];
  load4(piece, v);
#pragma unroll
  for (int e = 0; e < 4; e++) {
    v[e] = bits_float(to_tf32(v[e]));
  }
  store4(piece, v);
}

// The same for wgmma's operands, times `scale` first (1 leaves the values as they are): half a TF32 unit added to
// the bits (tf32_rna_piece_unit), as wgmma drops the low 13 bits itself.
NATTEN_DEVICE void round_tf32_piece_for_wgmma(float* piece, float scale = 1.0f) {
  float v[4];
  load4(piece, v);
#pragma unroll
  for (int e = 0; e < 4; e++) {
    v[e] *= scale;
  }
  const uint32_t unit = tf32_rna_piece_unit(v);
#pragma unroll
  for (int e = 0; e < 4; e++) {
    v[e] = bits_float(float_bits(v[e]) + unit);
  }
  store4(piece, v);
}

// The wide loads of the forward kernel (its k and n orders: natten/cuda/kernel_traits.h, ForwardTraits), from
// tiles rounded to TF32 in shared memory (or split, in float32).
//
// The A fragments of k-steps 2p and 2p + 1 of rows [row0, row0 + 16): lane quad q takes columns 4q + {0, 1}
// and 4q + {2, 3} of the 16 at `tile` (element (row0, 16p)), with one 16-byte load per row.
template <bool kPrecise>
NATTEN_DEVICE void load_a_pair(FragA<kPrecise>& a0, FragA<kPrecise>& a1, const float* tile, int stride, int group,
                               int quad) {
  float x[4], y[4];
  load4(tile + group * stride + 4 * quad, x);
  load4(tile + (group + 8) * stride + 4 * quad, y);
  split_rounded<kPrecise>(x[0], a0.hi[0], a0.lo[0]);
  split_rounded<kPrecise>(y[0], a0.hi[1], a0.lo[1]);
  split_rounded<kPrecise>(x[1], a0.hi[2], a0.lo[2]);
  split_rounded<kPrecise>(y[1], a0.hi[3], a0.lo[3]);
  split_rounded<kPrecise>(x[2], a1.hi[0], a1.lo[0]);
  split_rounded<kPrecise>(y[2], a1.hi[1], a1.lo[1]);
  split_rounded<kPrecise>(x[3], a1.hi[2], a1.lo[2]);
  split_rounded<kPrecise>(y[3], a1.hi[3], a1.lo[3]);
}

// load_a_pair from a tile whose rows group and group + 8 were interleaved by interleave_tf32_pieces (already
// rounded): the same fragments, each one 16-byte load, no register moves.
template <bool kPrecise>
NATTEN_DEVICE void load_a_pair_paired_rows(FragA<kPrecise>& a0, FragA<kPrecise>& a1, const float* tile, int stride,
                                           int group, int quad) {
  float x[4], y[4];
  load4(tile + group * stride + 4 * quad, x);
  load4(tile + (group + 8) * stride + 4 * quad, y);
#pragma unroll
  for (int e = 0; e < 4; e++) {
    split_rounded<kPrecise>(x[e], a0.hi[e], a0.lo[e]);
    split_rounded<kPrecise>(y[e], a1.hi[e], a1.lo[e]);
  }
}

// The B fragments of k-steps 2p and 2p + 1 for an 8-row block of a tile whose rows are the n axis (keys, in
// key_of_column order), in the k order of load_a_pair: one 16-byte load. `tile` points at (row 0, column 16p).
template <bool kPrecise>
NATTEN_DEVICE void load_b_pair_rows_as_n(FragB<kPrecise>& b0, FragB<kPrecise>& b1, const float* tile, int stride,
                                         int group, int quad) {
  float x[4];
  load4(tile + key_of_column(group) * stride + 4 * quad, x);
  split_rounded<kPrecise>(x[0], b0.hi[0], b0.lo[0]);
  split_rounded<kPrecise>(x[1], b0.hi[1], b0.lo[1]);
  split_rounded<kPrecise>(x[2], b1.hi[0], b1.lo[0]);
  split_rounded<kPrecise>(x[3], b1.hi[1], b1.lo[1]);
}

// The B fragments of four n-tiles 4h..4h+3 for an 8-row block of a tile whose rows are the k axis (O += P V),
// column g of n-tile 4h + i being tile column 32h + 4g + i: two 16-byte loads. `tile` points at (row 0, 32h).
template <bool kPrecise>
NATTEN_DEVICE void load_b_quad_rows_as_k(FragB<kPrecise> (&b)[4], const float* tile, int stride, int group, int quad) {
  float x[4], y[4];
  load4(tile + quad * stride + 4 * group, x);
  load4(tile + (quad + 4) * stride + 4 * group, y);
#pragma unroll
  for (int i = 0; i < 4; i++) {
    split_rounded<kPrecise>(x[i], b[i].hi[0], b[i].lo[0]);
    split_rounded<kPrecise>(y[i], b[i].hi[1], b[i].lo[1]);
  }
}

// Interleaves two 16-byte pieces at the same columns of rows k and k + 4 of an 8-row block (x and y), rounded
// to TF32 (unless !round: the MMA then truncates them, or they were rounded before): the first becomes (x0, y0,
// x1, y1), the second (x2, y2, x3, y3): see load_b_quad_paired_rows (and, for rows g and g + 8 of a 16-row block,
// load_a_pair_paired_rows).
NATTEN_DEVICE void interleave_tf32_pieces(float* first, float* second, bool round = true) {
  float x[4], y[4];
  load4(first, x);
  load4(second, y);
  if (round) {
#pragma unroll
    for (int e = 0; e < 4; e++) {
      x[e] = bits_float(to_tf32(x[e]));
      y[e] = bits_float(to_tf32(y[e]));
    }
  }
  const float a[4] = {x[0], y[0], x[1], y[1]};
  const float b[4] = {x[2], y[2], x[3], y[3]};
  store4(first, a);
  store4(second, b);
}

// load_b_quad_rows_as_k from a tile interleaved by interleave_tf32_pieces: the same fragments, each one aligned
// pair of the two 16-byte loads (b[0], b[1] from row quad, b[2], b[3] from row quad + 4), no register moves.
template <bool kPrecise>
NATTEN_DEVICE void load_b_quad_paired_rows(FragB<kPrecise> (&b)[4], const float* tile, int stride, int group,
                                           int quad) {
  float x[4], y[4];
  load4(tile + quad * stride + 4 * group, x);
  load4(tile + (quad + 4) * stride + 4 * group, y);
  split_rounded<kPrecise>(x[0], b[0].hi[0], b[0].lo[0]);
  split_rounded<kPrecise>(x[1], b[0].hi[1], b[0].lo[1]);
  split_rounded<kPrecise>(x[2], b[1].hi[0], b[1].lo[0]);
  split_rounded<kPrecise>(x[3], b[1].hi[1], b[1].lo[1]);
  split_rounded<kPrecise>(y[0], b[2].hi[0], b[2].lo[0]);
  split_rounded<kPrecise>(y[1], b[2].hi[1], b[2].lo[1]);
  split_rounded<kPrecise>(y[2], b[3].hi[0], b[3].lo[0]);
  split_rounded<kPrecise>(y[3], b[3].hi[1], b[3].lo[1]);
}

// A fragment from the C fragment of a previous product whose n axis used key_of_column (see above).
template <bool kPrecise>
NATTEN_DEVICE void a_from_c(FragA<kPrecise>& f, const float (&c)[4]) {
  make_a<kPrecise>(f, c[0], c[2], c[1], c[3]);
}

// B fragment B[k][n] = tile[key_of_column(n)][k] for an 8-row block of a row-major tile whose rows are the
// n axis (keys, S = Q K^T). `tile` points at element (row 0 of the block, column k0).
template <bool kPrecise>
NATTEN_DEVICE void load_b_rows_as_n(FragB<kPrecise>& f, const float* tile, int stride, int group, int quad) {
  const float* p = tile + key_of_column(group) * stride + quad;
  make_b<kPrecise>(f, p[0], p[4]);
}

// B fragment B[k][n] = tile[k][n] for an 8x8 block of a row-major tile whose rows are the k axis
// (O += P V). `tile` points at element (k0, n0).
template <bool kPrecise>
NATTEN_DEVICE void load_b_rows_as_k(FragB<kPrecise>& f, const float* tile, int stride, int group, int quad) {
  const float* p = tile + quad * stride + group;
  make_b<kPrecise>(f, p[0], p[4 * stride]);
}

// One k-step of two products that share it, over kN 8-row blocks of two tiles whose rows are the n axis:
// c1[j] += a1 * B(t1 block j), c2[j] += a2 * B(t2 block j) (the backward's S and dP, or S^T and dP^T). t1 and t2
// point at (row 0, the k-step's column).
template <bool kPrecise, int kN>
NATTEN_DEVICE void mma_pair_rows_as_n(float (&c1)[kN][4], float (&c2)[kN][4], const FragA<kPrecise>& a1,
                                      const FragA<kPrecise>& a2, const float* t1, const float* t2, int stride,
                                      int group, int quad) {
#pragma unroll
  for (int j = 0; j < kN; j++) {
    FragB<kPrecise> b1, b2;
    load_b_rows_as_n<kPrecise>(b1, t1 + 8 * j * stride, stride, group, quad);
    mma<kPrecise>(c1[j], a1, b1);
    load_b_rows_as_n<kPrecise>(b2, t2 + 8 * j * stride, stride, group, quad);
    mma<kPrecise>(c2[j], a2, b2);
  }
}

// Writes row r (0: row `group`, 1: row `group + 8`) of kN C fragments, times `factor`, to out[col0 + column]
// for the columns below `dim` (out points at the row's first element). pairs: out + col0 is 8-byte aligned, so
// each lane's two columns go as one 8-byte store where both are below dim (a quad's four fill a 32-byte sector).
template <int kN>
NATTEN_DEVICE void store_c_row(float* out, const float (&c)[kN][4], int r, int col0, int dim, float factor, int quad,
                               bool pairs = false) {
#pragma unroll
  for (int nt = 0; nt < kN; nt++) {
    const int col = col0 + 8 * nt + 2 * quad;
    if (pairs && col + 2 <= dim) {
      store2(out + col, c[nt][2 * r] * factor, c[nt][2 * r + 1] * factor);
      continue;
    }
#pragma unroll
    for (int e = 0; e < 2; e++) {
      if (col + e < dim) {
        out[col + e] = c[nt][2 * r + e] * factor;
      }
    }
  }
}

// The sum of row r's values below `dim` (the columns store_c_row writes, before its factor): Inf or NaN when one of
// them is (or, harmlessly for its use, when finite ones overflow). One add per value: the epilogues' check for rows
// that need an exact redo (fna_forward.cuh).
template <int kN>
NATTEN_DEVICE float c_row_sum(const float (&c)[kN][4], int r, int col0, int dim, int quad) {
  float sum = 0.f;
#pragma unroll
  for (int nt = 0; nt < kN; nt++) {
    const int col = col0 + 8 * nt + 2 * quad;
#pragma unroll
    for (int e = 0; e < 2; e++) {
      sum += col + e < dim ? c[nt][2 * r + e] : 0.f;
    }
  }
  return sum;
}

// acc += C x tile: the second product of a pair (O += P V, dQ += dS K, dV += P^T dO, dK += dS^T Q). `c` holds
// the first product's kK C fragments, whose n axis (in key_of_column order) is this product's k axis; `tile`
// is row-major with the k axis as rows (`stride` floats apart) and kN 8-column tiles of output.
template <bool kPrecise, int kK, int kN>
NATTEN_DEVICE void mma_c_by_rows(float (&acc)[kN][4], const float (&c)[kK][4], const float* tile, int stride,
                                 int group, int quad) {
#pragma unroll
  for (int j = 0; j < kK; j++) {
    FragA<kPrecise> a;
    a_from_c<kPrecise>(a, c[j]);
#pragma unroll
    for (int nt = 0; nt < kN; nt++) {
      FragB<kPrecise> b;
      load_b_rows_as_k<kPrecise>(b, tile + 8 * j * stride + 8 * nt, stride, group, quad);
      mma<kPrecise>(acc[nt], a, b);
    }
  }
}

}  // namespace dev
}  // namespace natten
