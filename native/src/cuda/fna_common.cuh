// Pieces shared by the fused kernels: their parameter block, the tile and box geometry (built from the
// per-axis functions of natten/na_mask.h), and the cp.async row loader.
#pragma once

#include "natten/cuda/compat.h"
#include "natten/cuda/kernel_traits.h"
#include "natten/cuda/mma.h"
#include "natten/cuda/softmax.h"
#include "natten/na_mask.h"
#include "natten/problem.h"

namespace natten {
namespace cuda {
namespace fna {

// Everything the three fused kernels read, passed by value.
struct Params {
  int batch, heads, heads_kv, heads_per_kv, head_dim, head_dim_v, n_extra;
  int64_t tokens;
  int length[3], kernel[3], stride[3], dilation[3], causal[3];
  int tile[3];        // tile shape: queries (forward, dq) or keys (dk/dv) per axis; the product is the CTA's rows
  int tile_shift[3];  // log2 of tile[a] (tile shapes are powers of two)
  int tiles[3];       // number of tiles per axis, over every dilation group
  int rpb_stride[3];  // strides of one head's rpb block: (2k1-1)(2k2-1), 2k2-1, 1
  int rpb_volume;
  int has_rpb;
  float scale;       // softmax scale of the logits
  float scale_log2;  // scale * log2(e)
  int vec4_qk;       // rows of head_dim floats can be copied 16 bytes at a time
  int vec4_v;        // rows of head_dim_v floats likewise
  int vec4_out;      // forward: output rows can be written 16 bytes at a time
  int rpb_in_smem;   // dq: dRpb is accumulated in shared memory first
  const float *query, *key, *value, *rpb, *extra_key, *extra_value;
  float *output, *lse;
  const float *d_output, *lse_in, *d_lse;
  float* delta;  // backward scratch: rowsum(dO * O) - dLse per query row
  float *d_query, *d_key, *d_value, *d_rpb, *d_extra_key, *d_extra_value;
  NAProblem problem;  // the call's problem, for the exact redo of non-finite rows (reference_rows.cuh)
};

// One tile: a dilation group and an in-group range [lo, hi) per axis.
struct Tile {
  int group[3];
  int lo[3];
  int hi[3];
  int group_length[3];
};

// `index` < 2^31 (the planner checks the tile count).
NATTEN_DEVICE Tile make_tile(const Params& p, int index) {
  int t[3];
  t[2] = index % p.tiles[2];
  index /= p.tiles[2];
  t[1] = index % p.tiles[1];
  t[0] = index / p.tiles[1];
  Tile tile;
  for (int a = 0; a < 3; a++) {
    const AxisTile at = get_axis_tile(t[a], p.length[a], p.dilation[a], p.tile[a]);
    tile.group[a] = at.group;
    tile.lo[a] = at.lo;
    tile.hi[a] = at.hi;
    tile.group_length[a] = get_group_length(p.length[a], p.dilation[a], at.group);
  }
  return tile;
}

// Division by a divisor fixed per CTA, as a multiply-high and a shift (Granlund-Montgomery, round-up
// variant): n / d == (umulhi(n, m) + n) >> s for every 0 <= n < 2^31. The chunk loads divide on every row.
struct FastDiv {
  uint32_t m = 0;
  uint32_t s = 0;

  NATTEN_DEVICE void init(uint32_t d) {
    s = 0;
    while ((uint32_t(1) << s) < d) {
      s++;
    }
    m = d == 0 ? 0 : static_cast<uint32_t>(((uint64_t(1) << 32) * ((uint64_t(1) << s) - d)) / d + 1);
  }
  NATTEN_DEVICE int div(int n) const {
    const uint32_t u = static_cast<uint32_t>(n);
    return static_cast<int>((static_cast<uint32_t>((static_cast<uint64_t>(u) * m) >> 32) + u) >> s);
  }
};

// A box of in-group positions, walked in row-major order (axis 2 fastest).
struct Box {
  int lo[3];
  int extent[3];
  int volume;
  FastDiv by_extent2, by_extent1;

  NATTEN_DEVICE void set(const Range (&r)[3]) {
    volume = 1;
    for (int a = 0; a < 3; a++) {
      lo[a] = r[a].lo;
      extent[a] = r[a].hi > r[a].lo ? r[a].hi - r[a].lo : 0;
      volume *= extent[a];
    }
    by_extent2.init(static_cast<uint32_t>(extent[2]));
    by_extent1.init(static_cast<uint32_t>(extent[1]));
  }
  // Row-major position of in-group coordinates c inside the box.
  NATTEN_DEVICE int encode(const int (&c)[3]) const {
    return ((c[0] - lo[0]) * extent[1] + (c[1] - lo[1])) * extent[2] + (c[2] - lo[2]);
  }
  NATTEN_DEVICE void decode(int u, int (&c)[3]) const {
    const int rest = by_extent2.div(u);
    c[2] = lo[2] + u - rest * extent[2];
    const int first = by_extent1.div(rest);
    c[1] = lo[1] + rest - first * extent[1];
    c[0] = lo[0] + first;
  }
  // Bounding box [lo_, hi_] (inclusive) of the positions [u0, u0 + n): an axis that the run wraps around
  // counts as fully covered.
  NATTEN_DEVICE void run_bounds(int u0, int n, int (&lo_)[3], int (&hi_)[3]) const {
    int first[3], last[3];
    decode(u0, first);
    decode(u0 + n - 1, last);
    bool same_prefix = true;
    for (int a = 0; a < 3; a++) {
      if (same_prefix) {
        lo_[a] = first[a];
        hi_[a] = last[a];
        same_prefix = first[a] == last[a];
      } else {
        lo_[a] = lo[a];
        hi_[a] = lo[a] + extent[a] - 1;
      }
    }
  }
  // Whether the positions [u0, u0 + n) all lie inside `inner` (per-axis ranges), judged on their bounding box.
  NATTEN_DEVICE bool run_inside(int u0, int n, const Range (&inner)[3]) const {
    int lo_[3], hi_[3];
    run_bounds(u0, n, lo_, hi_);
    for (int a = 0; a < 3; a++) {
      if (lo_[a] < inner[a].lo || hi_[a] >= inner[a].hi) {
        return false;
      }
    }
    return true;
  }
};

// Global token of in-group positions `ih` of dilation groups `group`.
NATTEN_DEVICE int64_t token_of(const Params& p, const int (&group)[3], const int (&ih)[3]) {
  const int64_t j0 = static_cast<int64_t>(ih[0]) * p.dilation[0] + group[0];
  const int j1 = ih[1] * p.dilation[1] + group[1];
  const int j2 = ih[2] * p.dilation[2] + group[2];
  return (j0 * p.length[1] + j1) * p.length[2] + j2;
}

NATTEN_DEVICE Range axis_window(const Params& p, int a, int ih, int group_length) {
  Range w;
  w.lo = get_window_start(ih, p.kernel[a], p.stride[a], group_length, p.causal[a] != 0);
  w.hi = get_window_end(ih, w.lo, p.kernel[a], group_length, p.causal[a] != 0);
  return w;
}

// The window of a query row of a tile (rows numbered row-major over the tile shape). Rows past the tile's
// end (partial tiles) take the geometry of the last valid position on that axis, so every address they
// produce is in range; `valid` says whether the row is real.
struct QueryRow {
  int lo[3];  // window [lo, hi) per axis, in-group key positions
  int hi[3];
  int rpb_part;  // sum over axes of (k - 1 - ih) * rpb_stride: plus a key's part, the offset of its bias
  int valid;
  int64_t token;
};

// Coordinates of row r inside the tile shape (row-major).
NATTEN_DEVICE void tile_row_coords(const Params& p, int r, int (&rc)[3]) {
  rc[2] = r & (p.tile[2] - 1);
  rc[1] = (r >> p.tile_shift[2]) & (p.tile[1] - 1);
  rc[0] = r >> (p.tile_shift[2] + p.tile_shift[1]);
}

NATTEN_DEVICE void tile_row_positions(const Params& p, const Tile& t, int r, int (&ih)[3], int& valid) {
  int rc[3];
  tile_row_coords(p, r, rc);
  valid = 1;
  for (int a = 0; a < 3; a++) {
    ih[a] = t.lo[a] + rc[a];
    if (ih[a] >= t.hi[a]) {
      valid = 0;
      ih[a] = t.hi[a] - 1;
    }
  }
}

// The in-group positions [lo, hi] (inclusive) per axis spanned by tile rows [r0, r0 + n): between the first
// and the last row on the first axis where they differ, every coordinate of the tile on later axes (as
// Box::run_bounds), clamped to the tile's valid positions (rows past its end take the last one, as in
// tile_row_positions).
NATTEN_DEVICE void tile_rows_span(const Params& p, const Tile& t, int r0, int n, int (&lo)[3], int (&hi)[3]) {
  int first[3], last[3];
  tile_row_coords(p, r0, first);
  tile_row_coords(p, r0 + n - 1, last);
  bool same_prefix = true;
  for (int a = 0; a < 3; a++) {
    const int q0 = t.lo[a] + (same_prefix ? first[a] : 0), q1 = t.lo[a] + (same_prefix ? last[a] : p.tile[a] - 1);
    same_prefix = same_prefix && first[a] == last[a];
    lo[a] = q0 < t.hi[a] ? q0 : t.hi[a] - 1;
    hi[a] = q1 < t.hi[a] ? q1 : t.hi[a] - 1;
  }
}

// The window [lo, hi) per axis of the query at in-group positions ih, and its part of a bias offset,
// sum over axes of (k - 1 - ih) * rpb_stride (plus a key's part, sum of jh * rpb_stride, it is the offset).
NATTEN_DEVICE int query_window(const Params& p, const Tile& t, const int (&ih)[3], int (&lo)[3], int (&hi)[3]) {
  int rpb_part = 0;
  for (int a = 0; a < 3; a++) {
    const Range w = axis_window(p, a, ih[a], t.group_length[a]);
    lo[a] = w.lo;
    hi[a] = w.hi;
    rpb_part += (p.kernel[a] - 1 - ih[a]) * p.rpb_stride[a];
  }
  return rpb_part;
}

NATTEN_DEVICE QueryRow query_row(const Params& p, const Tile& t, int r) {
  QueryRow q;
  int ih[3];
  tile_row_positions(p, t, r, ih, q.valid);
  q.rpb_part = query_window(p, t, ih, q.lo, q.hi);
  q.token = token_of(p, t.group, ih);
  return q;
}

// The window and bias part of a query row, as the forward stages them in shared memory.
struct alignas(16) RowWindow {
  int lo[3];
  int rpb_part;
  int hi[3];
  int pad;

  NATTEN_DEVICE static RowWindow of(const QueryRow& q) {
    RowWindow w;
    for (int a = 0; a < 3; a++) {
      w.lo[a] = q.lo[a];
      w.hi[a] = q.hi[a];
    }
    w.rpb_part = q.rpb_part;
    w.pad = 0;
    return w;
  }
};

// Coordinates of a key of a chunk, as staged in shared memory next to its row (j[0] is far negative for a
// key past the end of the box, so every window test fails).
struct alignas(16) KeyInfo {
  int j[3];
  int rpb_part;  // sum over axes of jh * rpb_stride
};

constexpr int kNoKey = -(1 << 30);

NATTEN_DEVICE bool window_holds(const int (&lo)[3], const int (&hi)[3], const int (&j)[3]) {
  return j[0] >= lo[0] && j[0] < hi[0] && j[1] >= lo[1] && j[1] < hi[1] && j[2] >= lo[2] && j[2] < hi[2];
}

// One step of the two-stage pipeline of the chunk loops: issue the next chunk's copies (when there is one)
// into the other stage, then wait for this chunk's and make them visible to the whole CTA.
// `landed` runs after the wait and before the barrier: each thread may touch the pieces it copied itself.
template <class LoadNext, class Landed>
NATTEN_DEVICE void advance_pipeline(bool has_next, LoadNext load_next, Landed landed) {
  if (has_next) {
    load_next();
  }
  dev::cp_async_commit();  // an empty group on the last chunk keeps the count of groups in flight uniform
  dev::cp_async_wait<1>();
  landed();
  __syncthreads();
}

template <class LoadNext>
NATTEN_DEVICE void advance_pipeline(bool has_next, LoadNext load_next) {
  advance_pipeline(has_next, load_next, [] {});
}

// The rows of a smem row n in global memory: up to two tensors at the same position (K and V, Q and dO), each
// nullptr for a row of zeros.
struct RowSources {
  const float* a;
  const float* b;
};

// One 16-byte piece (columns [col, col + 4)) of a row: copied, or zeros past `dim` and for an absent row.
// `vec4`: dim % 4 == 0 and rows 16-byte aligned; else four 4-byte copies.
NATTEN_DEVICE void copy_piece(float* dst, const float* src, int col, int dim, int vec4, const float* any_valid) {
  if (vec4) {
    const bool ok = src != nullptr && col < dim;
    dev::cp_async_16(dst, ok ? src + col : any_valid, ok ? 16 : 0);
  } else {
#pragma unroll
    for (int e = 0; e < 4; e++) {
      const bool ok = src != nullptr && col + e < dim;
      dev::cp_async_4(dst + e, ok ? src + col + e : any_valid, ok ? 4 : 0);
    }
  }
}

// Row n of a chunk of `box` that starts at position u0: the rows of two [batch, tokens, heads, dim] tensors
// at that position (head `head` of `heads`), or none past the end of the box.
NATTEN_DEVICE RowSources box_rows(const Params& p, const Tile& t, const Box& box, int u0, int n, int64_t b,
                                  int heads, int head, const float* x, int dim_x, const float* y, int dim_y) {
  const int u = u0 + n;
  if (u >= box.volume) {
    return RowSources{nullptr, nullptr};
  }
  int ih[3];
  box.decode(u, ih);
  const int64_t row = (b * p.tokens + token_of(p, t.group, ih)) * heads + head;
  return RowSources{x + row * dim_x, y + row * dim_y};
}

// A smem destination of load_rows: the tile, its row stride (floats), the tensor's row length, whether it
// can be copied 16 bytes at a time, and any valid address of the tensor (the source of zero-filled copies).
struct RowTile {
  float* tile;
  int stride;
  int dim;
  int vec4;
  const float* any_valid;
  int core_rows = 0;  // > 0: the tile's core-matrix layout for wgmma (piece_at), rows of them in all; 0: row-major
  int keys_paired = 0;  // with core_rows: row n of each 8-row block stored as row 2 (n % 4) + (n % 8) / 4 of it
};

// Where the 16-byte piece (row n, columns [col, col + 4)) of a tile lives: row-major (`stride` floats a row), or
// with core_rows > 0 in wgmma's no-swizzle K-major layout, 8-row x 4-column core matrices of 32 contiguous
// floats, 128 bytes apart along the rows (smem_desc's sbo), the core matrices of columns [col, col + 4) in one
// block, the blocks wgmma_block_floats(core_rows) apart (lbo: 16 bytes of padding each, so that block j starts
// j 16-byte slots further round the banks; with kMapQuads the copies and the rounding pass then meet no bank
// conflicts). keys_paired: rows n and n + 4 of each 8-row block become rows 2 (n % 4) and 2 (n % 4) + 1, so that
// an MMA's C fragment holds them in the order of the mma.sync kernel's scores (element e of column tile j: key
// 8 j + quad + 4 e), which the masks expect.
NATTEN_DEVICE float* piece_at(float* tile, int stride, int core_rows, int n, int col, int keys_paired = 0) {
  if (core_rows <= 0) {
    return tile + n * stride + col;
  }
  const int row = keys_paired ? (n & ~7) + 2 * (n & 3) + ((n >> 2) & 1) : n;
  return tile + (col >> 2) * wgmma_block_floats(core_rows) + (row >> 3) * 32 + (row & 7) * 4;
}

// Assignments of a tile's 16-byte pieces to threads (kMap): kMapIndex (0), piece idx = threadIdx.x + i kThreads in
// row-major order; kMapRows (1), one row per thread (kThreads / kRows threads per row, each taking every
// (kThreads / kRows)-th piece of it: a row's address is worked out once per thread and chunk, and consecutive
// lanes still read consecutive pieces); kMapRowPairs (2), rows k and k + 4 of each 8-row block per thread, at
// the same columns (so that the thread can interleave them once they land); kMapQuads (3), one row per thread
// too, each 8-lane phase taking four rows 4 g + [0, 4) (two lanes a row) at two adjacent pieces (one 32-byte
// sector of each row): in a core-matrix layout (piece_at) with keys_paired those rows sit 2 slots apart and the
// two pieces one apart, and in a row-major tile of a stride of 8 mod 32 floats, 2 and 1 slots apart, so a
// phase's eight 16-byte accesses fall on the eight distinct 16-byte slots of the 128-byte bank line. kMapThreads:
// the threads that share a row (kMapRows, kMapQuads) or a row pair (kMapRowPairs); 0 where the assignment does
// not divide evenly (kMapRows and kMapQuads then fall back to kMapIndex; kMapRowPairs is never asked for there:
// see ForwardTraits).
enum PieceMap { kMapIndex = 0, kMapRows = 1, kMapRowPairs = 2, kMapQuads = 3 };

template <int kRows, int kWidth, int kThreads, int kMap>
constexpr int kMapThreads =
    kMap == kMapRows ? (kThreads >= kRows && kThreads % kRows == 0 && (kWidth / 4) % (kThreads / kRows) == 0
                            ? kThreads / kRows : 0)
    : kMap == kMapRowPairs
        ? (kRows % 8 == 0 && 2 * kThreads >= kRows && kThreads % (kRows / 2) == 0 &&
                   (kWidth / 4) % (kThreads / (kRows / 2)) == 0
               ? kThreads / (kRows / 2) : 0)
    : kMap == kMapQuads
        ? (kRows % 4 == 0 && kThreads % kRows == 0 && (kThreads / kRows) % 2 == 0 &&
                   (kWidth / 8) % (kThreads / kRows / 2) == 0
               ? kThreads / kRows : 0)
        : 0;

// Whether this thread writes its row's key coordinates in KeyChunks::load: one thread of each row (kMapRows,
// kMapQuads) or row pair (kMapRowPairs).
template <int kRows, int kWidth, int kThreads, int kMap>
NATTEN_DEVICE bool leads_row() {
  constexpr int kT = kMapThreads<kRows, kWidth, kThreads, kMap>;
  if constexpr (kMap == kMapQuads && kT > 0) {
    return (threadIdx.x & 1) == 0 && (threadIdx.x >> 3) % (kT / 2) == 0;
  } else {
    return threadIdx.x % (kT > 0 ? kT : 1) == 0;
  }
}

// Calls f(row(n), n, col) for each 16-byte piece (row n, columns [col, col + 4)) of a kRows x kWidth tile that
// this thread copies under assignment kMap; row(n) is asked once per row (kMapRows, kMapRowPairs, kMapQuads) or
// per piece.
template <int kRows, int kWidth, int kThreads, int kMap, class Row, class F>
NATTEN_DEVICE void for_pieces(Row row, F f) {
  constexpr int kVecs = kWidth / 4;
  constexpr int kT = kMapThreads<kRows, kWidth, kThreads, kMap>;
  if constexpr (kMap == kMapRows && kT > 0) {
    const int n = threadIdx.x / kT;
    auto src = row(n);
#pragma unroll
    for (int i = 0; i < kVecs / kT; i++) {
      f(src, n, 4 * (threadIdx.x % kT + kT * i));
    }
  } else if constexpr (kMap == kMapRowPairs && kT > 0) {
    const int m = threadIdx.x / kT, n = 8 * (m >> 2) + (m & 3);
    auto src = row(n);
    auto src4 = row(n + 4);
#pragma unroll
    for (int i = 0; i < kVecs / kT; i++) {
      const int col = 4 * (threadIdx.x % kT + kT * i);
      f(src, n, col);
      f(src4, n + 4, col);
    }
  } else if constexpr (kMap == kMapQuads && kT > 0) {
    constexpr int kQs = kT / 2;  // 8-lane phases per group of four rows
    const int phase = threadIdx.x >> 3, n = 4 * (phase / kQs) + ((threadIdx.x & 7) >> 1);
    auto src = row(n);
#pragma unroll
    for (int i = 0; i < kVecs / kT; i++) {
      f(src, n, 4 * (2 * (phase % kQs + kQs * i) + (threadIdx.x & 1)));
    }
  } else {
    static_assert(kMap != kMapRowPairs, "row pairs do not divide evenly over the threads");
    for (int idx = threadIdx.x; idx < kRows * kVecs; idx += kThreads) {
      const int n = idx / kVecs;
      f(row(n), n, 4 * (idx % kVecs));
    }
  }
}

// Issues the cp.async copies of kRows rows into one or two smem tiles (kWidth >= dim columns each; the
// columns past dim are zeros). rows(n) gives the sources of row n, for both tiles (see for_pieces).
template <int kRows, int kWidth, int kThreads, int kMap = kMapIndex, class Rows>
NATTEN_DEVICE void load_rows(const RowTile& a, const RowTile* b, Rows rows) {
  for_pieces<kRows, kWidth, kThreads, kMap>(rows, [&](const RowSources& src, int n, int col) {
    copy_piece(piece_at(a.tile, a.stride, a.core_rows, n, col, a.keys_paired), src.a, col, a.dim, a.vec4, a.any_valid);
    if (b != nullptr) {
      copy_piece(piece_at(b->tile, b->stride, b->core_rows, n, col, b->keys_paired), src.b, col, b->dim, b->vec4,
                 b->any_valid);
    }
  });
}

// Calls f(piece) for each 16-byte piece of a kRows x kWidth tile that this thread copies in load_rows (the
// same assignment of pieces to threads): after its copies land, a thread may rework its own pieces in place
// before the barrier that publishes them.
// for_own_pieces with the piece's row and columns: f(piece, n, col).
template <int kRows, int kWidth, int kThreads, int kMap = kMapIndex, class F>
NATTEN_DEVICE void for_own_pieces_at(float* tile, int stride, F f, int core_rows = 0, int keys_paired = 0) {
  for_pieces<kRows, kWidth, kThreads, kMap>([](int) { return 0; }, [&](int, int n, int col) {
    f(piece_at(tile, stride, core_rows, n, col, keys_paired), n, col);
  });
}

template <int kRows, int kWidth, int kThreads, int kMap = kMapIndex, class F>
NATTEN_DEVICE void for_own_pieces(float* tile, int stride, F f, int core_rows = 0, int keys_paired = 0) {
  for_own_pieces_at<kRows, kWidth, kThreads, kMap>(tile, stride, [&](float* piece, int, int) { f(piece); }, core_rows,
                                                   keys_paired);
}

// Under kMapRowPairs: calls f(piece of row n, piece of row n + 4) for each of this thread's pairs of pieces at
// the same columns.
template <int kRows, int kWidth, int kThreads, class F>
NATTEN_DEVICE void for_own_piece_pairs(float* tile, int stride, F f) {
  constexpr int kT = kMapThreads<kRows, kWidth, kThreads, kMapRowPairs>;
  static_assert(kT > 0, "row pairs do not divide evenly over the threads");
  const int m = threadIdx.x / kT, n = 8 * (m >> 2) + (m & 3);
#pragma unroll
  for (int i = 0; i < kWidth / 4 / kT; i++) {
    const int col = 4 * (threadIdx.x % kT + kT * i);
    f(tile + n * stride + col, tile + (n + 4) * stride + col);
  }
}

}  // namespace fna
}  // namespace cuda
}  // namespace natten
