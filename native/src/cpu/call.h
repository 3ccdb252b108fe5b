// One kernel call as the row kernels see it: the tensors, how the call is cut into units, and where each
// unit writes the gradients that several units contribute to (key-side gradients, extra tokens, rpb).
//
// A unit covers batch b, a range of kv heads (with all the query heads of their groups) and the query
// tokens of chunk c: u = (b * (headsKv / kvPerUnit) + hk / kvPerUnit) * chunks + c. Forward-type kernels
// take every kv head in one unit (a token's neighbor list is built once for all heads); backward-type
// kernels one kv head per unit. A unit writes its own query rows directly. Key-side gradients
// (dk, dv) of the key tokens in the unit's own token range are written directly too (no other unit writes
// them); those of key tokens outside it (the halo) go to the unit's halo buffer, added in afterwards in
// chunk order. Extra-token and rpb gradients go to per-unit partial buffers, summed in unit order.
#pragma once

#include <cstdint>

#include "geometry.h"

namespace natten {
namespace cpu {

// Where one unit writes one key-side gradient (dk or dv) of its kv head.
struct KeySide {
  float* direct;    // gradient row of key token 0 of this batch and kv head; tokens `stride` apart
  int64_t stride;   // kv_token_stride * width
  float* halo;      // this unit's halo rows, `width` apart: left part, then right part
  int64_t own_lo, own_hi;      // the unit's own token range
  int64_t left_lo;             // left halo covers key tokens [left_lo, own_lo)
  int64_t right_lo;            // right halo covers [right_lo, ...), after the left part's rows
  int64_t left_rows;
  int width;
};

// The gradient row of `key_token` for this unit. (Static, like every helper here that the row kernels
// call: see RowScratch.)
static inline float* key_row(const KeySide& ks, int64_t key_token) {
  if (key_token >= ks.own_lo && key_token < ks.own_hi) {
    return ks.direct + key_token * ks.stride;
  }
  if (key_token < ks.own_lo) {
    return ks.halo + (key_token - ks.left_lo) * ks.width;
  }
  return ks.halo + (ks.left_rows + key_token - ks.right_lo) * ks.width;
}

// The halo of one chunk: key tokens [lo, own_lo) and [right_lo, hi) that its queries reach outside its own
// range, and where its rows start in a unit's halo buffer (in rows; the buffer of unit u starts at
// (u / chunks) * halo_rows_per_group + row_offset).
struct ChunkHalo {
  int64_t own_lo, own_hi;
  int64_t left_lo, left_rows;
  int64_t right_lo, right_rows;
  int64_t row_offset;
};

struct NACall {
  const Geometry* g = nullptr;  // only its out-of-line neighbors() is called by the row kernels
  Problem p;
  // Copied from the Geometry and the Chunks, so the row kernels need none of their inline members.
  int64_t tokens = 0;
  int kernel_volume = 0;
  int slots = 0;
  int rpb_volume = 0;
  int heads_per_kv = 0;
  int chunk_count = 0;
  const int64_t* chunk_start = nullptr;  // chunk_count + 1 entries
  int kv_per_unit = 1;                   // kv heads per unit: headsKv (forward-type) or 1 (backward-type)
  // Layout of key, value, d_key and d_value, in rows (of headDim or headDimV): a batch spans tokens * headsKv
  // rows; within it, row of (token t, kv head hk) = t * kv_token_stride + hk * kv_head_stride. The tensors'
  // own layout is [tokens, headsKv] (headsKv, 1); na_cpu.cc stages them head-major [headsKv, tokens]
  // (1, tokens) when headsKv > 1, so that a kv head's rows are contiguous (see stage_head_major).
  int64_t kv_token_stride = 1;
  int64_t kv_head_stride = 1;

  // Inputs (null when absent or unused by the kernel).
  const float* query = nullptr;
  const float* key = nullptr;
  const float* value = nullptr;
  const float* rpb = nullptr;
  const float* extra_keys = nullptr;
  const float* extra_values = nullptr;
  const float* output = nullptr;    // backward: the forward's output
  const float* lse = nullptr;       // backward: the forward's logsumexp
  const float* d_output = nullptr;
  const float* d_lse = nullptr;
  const float* weights = nullptr;   // AV
  const float* d_logits = nullptr;  // QK backward

  // Row outputs.
  float* out = nullptr;       // forward output / AV output
  float* out_lse = nullptr;   // forward logsumexp
  float* logits = nullptr;    // QK forward
  float* d_query = nullptr;
  float* d_weights = nullptr;  // AV backward

  // Key-side gradients (null when the kernel has none): direct targets and per-unit halo buffers.
  float* d_key = nullptr;
  float* d_value = nullptr;
  const ChunkHalo* halos = nullptr;  // per chunk
  int64_t halo_rows_per_group = 0;   // halo rows of all chunks of one (batch, kv head)
  float* d_key_halo = nullptr;       // per unit, width headDim
  float* d_value_halo = nullptr;     // per unit, width headDimV

  // Per-unit partial buffers: extra-token gradients [nExtra, width], rpb gradient [headsPerKv, rpbVolume].
  float* d_extra_keys_part = nullptr;
  float* d_extra_values_part = nullptr;
  double* d_rpb_part = nullptr;

  // The blocked backward (na_backward_blocked): the per-axis window tables (Geometry::axis_tables), and
  // key and value transposed per line of the last axis: [batch, headsKv, lines, dim, t_pitch], a line's
  // length[2] tokens contiguous, zeros after them.
  const int32_t* win_first[3] = {nullptr, nullptr, nullptr};
  const int32_t* win_count[3] = {nullptr, nullptr, nullptr};
  const int32_t* win_rpb[3] = {nullptr, nullptr, nullptr};
  const float* key_t = nullptr;
  const float* value_t = nullptr;
  const float* delta = nullptr;  // [batch, tokens, heads]: rowsum(dO * O) - dLse
  // The key rows that dq sums over: token t of batch b and kv head hk at row
  // (b * tokens * headsKv + hk * key_head_stride + t * key_token_stride).
  const float* key_rows = nullptr;
  // The blocked forward's attention weights, kept for the blocked backward (na_cpu.cc, kept_weights_length):
  // rows of weights_stride floats, past the header (see kernels.h, weights_row).
  float* weights_out = nullptr;       // the forward: where to write them (null: not kept)
  const float* weights_in = nullptr;  // the backward: the forward's (null: computed again from Q K^T)
  int64_t weights_stride = 0;
  int64_t key_token_stride = 0, key_head_stride = 0;
  unsigned char* nonfinite = nullptr;  // per unit: set when it met a non-finite query or output gradient
  int64_t t_pitch = 0;
  int tile_lanes = 0;  // key lanes of a tile's key row segment: 8 or 16
  int tile_lines = 1;  // query lines of the middle axis per tile: 1 or 2 (kernels.h, na_backward_blocked)
};

// Position of unit u: batch b, kv heads [hk, hk_end), chunk.
struct UnitPos {
  int b, hk, hk_end, chunk;
  int64_t t0, t1;
};

static inline UnitPos unit_pos(const NACall& c, int64_t u) {
  const int C = c.chunk_count;
  const int groups = c.p.heads_kv / c.kv_per_unit;
  UnitPos pos;
  pos.chunk = static_cast<int>(u % C);
  const int64_t group = u / C;
  pos.hk = static_cast<int>(group % groups) * c.kv_per_unit;
  pos.hk_end = pos.hk + c.kv_per_unit;
  pos.b = static_cast<int>(group / groups);
  pos.t0 = c.chunk_start[pos.chunk];
  pos.t1 = c.chunk_start[pos.chunk + 1];
  return pos;
}

// Which part of a unit's targets holds key_token's row: 0 the left halo, 1 its own range, 2 the right halo.
// Within one part, consecutive key tokens' rows are evenly spaced (stride in its own range, width in a halo).
static inline int key_region(const KeySide& ks, int64_t key_token) {
  return key_token < ks.own_lo ? 0 : key_token < ks.own_hi ? 1 : 2;
}

// The key-side target of unit u for a gradient `base` (d_key or d_value) of `width` columns.
static inline KeySide key_side(const NACall& c, int64_t u, const UnitPos& pos, float* base, float* halo_base,
                        int width) {
  const ChunkHalo& h = c.halos[pos.chunk];
  KeySide s;
  s.stride = c.kv_token_stride * width;
  s.direct = base + (static_cast<int64_t>(pos.b) * c.tokens * c.p.heads_kv + pos.hk * c.kv_head_stride) * width;
  s.halo = halo_base + ((u / c.chunk_count) * c.halo_rows_per_group + h.row_offset) * width;
  s.own_lo = h.own_lo;
  s.own_hi = h.own_hi;
  s.left_lo = h.left_lo;
  s.left_rows = h.left_rows;
  s.right_lo = h.right_lo;
  s.width = width;
  return s;
}

// Per-thread scratch of the row kernels: raw arrays (grown by row_scratch, kept between calls). The row
// kernels are compiled once per instruction set (kernels_avx2.cc with -mavx2 -mfma); any inline or
// template function both compile would be emitted twice and the linker would keep one copy, possibly the
// AVX2 one, for both. So the kernels use only raw pointers, `static` helpers and functions of their own
// namespace; std::vector and the like stay in dispatch.cc.
struct RowScratch {
  int32_t* key_token;
  int32_t* rpb_offset;
  int32_t* slot;
  const float** kp;
  const float** vp;
  float** dkp;
  float** dvp;
  float* bias;
  float* scores;
  float* probs;
  float* qbuf;
  float* obuf;
  float* gbuf;
};

// This thread's scratch, with room for `slots` neighbors (plus padding) and head dims up to `dim`.
RowScratch row_scratch(int slots, int dim);

// The row kernels of one instruction set: each processes one unit.
struct KernelTable {
  const char* name;
  void (*na_forward)(const NACall&, int64_t unit);
  void (*na_backward)(const NACall&, int64_t unit);
  void (*na_backward_blocked)(const NACall&, int64_t unit);
  void (*qk_forward)(const NACall&, int64_t unit);
  void (*qk_backward)(const NACall&, int64_t unit);
  void (*av_forward)(const NACall&, int64_t unit);
  void (*av_backward)(const NACall&, int64_t unit);
  bool (*transpose_line)(const float* from, int64_t stride, int L, int width, float* to, int64_t pitch,
                         float* rows_to);
  void (*row_deltas)(const float* o, const float* d, const float* d_lse, int64_t rows, int n, float* delta);
  void (*na_forward_blocked)(const NACall&, int64_t unit);
  bool (*stage_line)(const float* from, int64_t stride, int L, int width, float* rows_to);
  int row_width;  // floats per head-dim vector of the blocked kernels (their head dims: multiples of it)
};

const KernelTable& portable_kernels();
// Defined only in builds with the AVX2 translation unit (x86-64); null elsewhere.
const KernelTable* avx2_kernels();
// The same with AVX-512F and AVX-512VL (32 vector registers); null where not compiled so.
const KernelTable* avx512_kernels();
// The same with 512-bit rows in the blocked backward (simd::Avx512); null where not compiled so.
const KernelTable* avx512zmm_kernels();

}  // namespace cpu
}  // namespace natten
