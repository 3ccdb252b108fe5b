// The fused forward kernel (FlashAttention-2 style, adapted to neighborhoods).
//
// A CTA takes a tile of kBlockM queries of one (batch, head): a box of in-group positions of one dilation
// group per axis, so the windows of its queries form one box of keys (their union, per axis). It walks that
// box in chunks of kBlockN keys (row-major), then the extra tokens in chunks, staging each chunk's keys and
// values in shared memory with cp.async (two stages: the next chunk loads while this one computes). Per
// chunk: S = Q K^T on tensor cores; scale, bias and mask (a chunk inside every query's window skips the
// mask); the online softmax in registers; O += P V. The attention weights are never written.
#pragma once

#include <type_traits>

#include "fna_common.cuh"
#include "reference_rows.cuh"
#include "natten/cuda/kernel_traits.h"

namespace natten {
namespace cuda {
namespace fna {

enum ChunkKind { kChunkMasked = 0, kChunkFull = 1, kChunkExtra = 2 };

// The key chunks of a query tile: the union box of its windows, then the extra tokens.
struct KeyChunks {
  Box box;
  Range common[3];  // keys inside the window of every query of the tile
  int box_chunks;
  int count;

  template <int kBlockN>
  NATTEN_DEVICE static KeyChunks of(const Params& p, const Tile& t) {
    KeyChunks k;
    Range keys[3];
    for (int a = 0; a < 3; a++) {
      const bool causal = p.causal[a] != 0;
      keys[a] = get_window_union(t.lo[a], t.hi[a], p.kernel[a], p.stride[a], t.group_length[a], causal);
      k.common[a] = get_window_intersection(t.lo[a], t.hi[a], p.kernel[a], p.stride[a], t.group_length[a], causal);
    }
    k.box.set(keys);
    k.box_chunks = (k.box.volume + kBlockN - 1) / kBlockN;
    k.count = k.box_chunks + (p.n_extra + kBlockN - 1) / kBlockN;
    return k;
  }

  // The positions [lo, hi) of the box (row-major) that the windows of tile rows [r0, r0 + n) reach, exact up
  // to the box's row-major order (tile_rows_span): the box chunks outside it hold only keys that every one of
  // those rows masks, so the warp that owns the rows skips them.
  NATTEN_DEVICE Range rows_reach(const Params& p, const Tile& t, int r0, int n) const {
    int lo[3], hi[3];
    tile_rows_span(p, t, r0, n, lo, hi);
    for (int a = 0; a < 3; a++) {
      const Range w = get_window_union(lo[a], hi[a] + 1, p.kernel[a], p.stride[a], t.group_length[a], p.causal[a] != 0);
      lo[a] = w.lo;
      hi[a] = w.hi - 1;
    }
    return Range{box.encode(lo), box.encode(hi) + 1};
  }

  // Whether chunk c is a box chunk that holds no position of `reach`.
  template <int kBlockN>
  NATTEN_DEVICE bool outside(int c, const Range& reach) const {
    return c < box_chunks && (c * kBlockN >= reach.hi || (c + 1) * kBlockN <= reach.lo);
  }

  template <int kBlockN>
  NATTEN_DEVICE int kind(int c) const {
    if (c >= box_chunks) {
      return kChunkExtra;
    }
    const int u0 = c * kBlockN;
    return u0 + kBlockN <= box.volume && box.run_inside(u0, kBlockN, common) ? kChunkFull : kChunkMasked;
  }

  // Issues the copies of chunk c's keys and values (and, for box chunks, its key coordinates) into a stage.
  // kMap (fna_common.cuh): with kMapRows, kMapRowPairs or kMapQuads each thread decodes its rows' positions once,
  // and one thread of each row (or pair) writes those keys' coordinates from the same decoding.
  template <int kBlockN, int kWidth, int kThreads, int kMap = kMapIndex>
  NATTEN_DEVICE void load(const Params& p, const Tile& t, int64_t b, int hkv, int c, float* k_dst, int k_stride,
                          float* v_dst, int v_stride, KeyInfo* info, int k_core_rows = 0) const {
    // k_core_rows > 0: K in wgmma's core-matrix layout, each 8-key block's rows paired (piece_at).
    const RowTile k_tile{k_dst, k_stride, p.head_dim, p.vec4_qk, p.key, k_core_rows, k_core_rows > 0};
    const RowTile v_tile{v_dst, v_stride, p.head_dim_v, p.vec4_v, p.value};
    constexpr int kT = kMapThreads<kBlockN, kWidth, kThreads, kMap>;
    if (kT > 0 && c < box_chunks) {
      const int u0 = c * kBlockN;
      load_rows<kBlockN, kWidth, kThreads, kMap>(k_tile, &v_tile, [&](int n) {
        const int u = u0 + n;
        KeyInfo k;
        RowSources src{nullptr, nullptr};
        if (u < box.volume) {
          box.decode(u, k.j);
          k.rpb_part = k.j[0] * p.rpb_stride[0] + k.j[1] * p.rpb_stride[1] + k.j[2] * p.rpb_stride[2];
          const int64_t row = (b * p.tokens + token_of(p, t.group, k.j)) * p.heads_kv + hkv;
          src = RowSources{p.key + row * p.head_dim, p.value + row * p.head_dim_v};
        } else {
          k.j[0] = k.j[1] = k.j[2] = kNoKey;
          k.rpb_part = 0;
        }
        if (leads_row<kBlockN, kWidth, kThreads, kMap>()) {
          info[n] = k;
        }
        return src;
      });
    } else if (c < box_chunks) {
      const int u0 = c * kBlockN;
      load_rows<kBlockN, kWidth, kThreads>(k_tile, &v_tile, [&](int n) {
        return box_rows(p, t, box, u0, n, b, p.heads_kv, hkv, p.key, p.head_dim, p.value, p.head_dim_v);
      });
      if (threadIdx.x < kBlockN) {
        KeyInfo k;
        const int u = u0 + threadIdx.x;
        if (u < box.volume) {
          box.decode(u, k.j);
          k.rpb_part = k.j[0] * p.rpb_stride[0] + k.j[1] * p.rpb_stride[1] + k.j[2] * p.rpb_stride[2];
        } else {
          k.j[0] = k.j[1] = k.j[2] = kNoKey;
          k.rpb_part = 0;
        }
        info[threadIdx.x] = k;
      }
    } else {
      const int e0 = (c - box_chunks) * kBlockN;
      const RowTile ek_tile{k_dst, k_stride, p.head_dim, p.vec4_qk, p.extra_key, k_core_rows, k_core_rows > 0};
      const RowTile ev_tile{v_dst, v_stride, p.head_dim_v, p.vec4_v, p.extra_value};
      load_rows<kBlockN, kWidth, kThreads, kMap>(ek_tile, &ev_tile, [&](int n) {
        const int e = e0 + n;
        if (e >= p.n_extra) {
          return RowSources{nullptr, nullptr};
        }
        const int64_t row = (b * p.n_extra + e) * p.heads_kv + hkv;
        return RowSources{p.extra_key + row * p.head_dim, p.extra_value + row * p.head_dim_v};
      });
    }
  }
};

// The window test and the bias of one chunk's scores, for one combination of the two (kMasked: keys outside a
// row's window get -inf; kBiased: the rpb entry is added). Straight-line code: per key one 16-byte load of its
// coordinates, per score an unsigned range test per axis (lo <= j < hi as j - lo < hi - lo) and a select; the
// bias is read at a clamped offset where the key is masked (never out of range, then discarded).
//
// kAxes (the lean mask, ForwardConfig::lean): kMaskAxes012 tests every axis; kMaskAxes12 skips axis 0, for a key
// box one position long on it (every window of the tile holds that position; keys past the box's end fail on
// the other axes too, kNoKey); kMaskLine, for a box one line long (extent 1 on axes 0 and 1), takes key n's
// axis-2 coordinate as line0 + n (line0: the box's first position plus the chunk's start) instead of reading
// it, and its bias part as line_rpb + that coordinate (rpb_stride[2] == 1): a key past the box's end lies past
// every window. Either way the scores are the same.
enum MaskAxes { kMaskAxes012 = 0, kMaskAxes12 = 1, kMaskLine = 2 };

template <bool kMasked, bool kBiased, int kNT, int kAxes = kMaskAxes012, class Row>
NATTEN_DEVICE void mask_and_bias(const Params& p, float (&s)[kNT][4], const KeyInfo* info, const Row& row0,
                                 const Row& row1, int h, int quad, int line0 = 0, int line_rpb = 0) {
  dev::compiler_fence();  // read the rows' windows here, per chunk: hoisted out of the loop they hold 14 registers
  int lo[2][3];
  unsigned extent[2][3];
  int rpb_row[2];
#pragma unroll
  for (int a = 0; a < 3; a++) {
    lo[0][a] = row0.lo[a];
    lo[1][a] = row1.lo[a];
    extent[0][a] = static_cast<unsigned>(row0.hi[a] - row0.lo[a]);
    extent[1][a] = static_cast<unsigned>(row1.hi[a] - row1.lo[a]);
  }
  rpb_row[0] = row0.rpb_part;
  rpb_row[1] = row1.rpb_part;
  const float* rpb = kBiased ? p.rpb + static_cast<int64_t>(h) * p.rpb_volume : nullptr;
  int line_base[2];  // kMaskLine: key n's axis-2 coordinate less the row's window start is line_base[r] + n - quad
#pragma unroll
  for (int r = 0; r < 2; r++) {
    line_base[r] = line0 + quad - lo[r][2];
  }
#pragma unroll
  for (int j = 0; j < kNT; j++) {
#pragma unroll
    for (int half = 0; half < 2; half++) {  // key 8 j + quad + 4 half: elements half (row 0) and 2 + half (row 1)
      KeyInfo k;
      if (kAxes != kMaskLine) {
        k = info[8 * j + quad + 4 * half];
      }
#pragma unroll
      for (int r = 0; r < 2; r++) {
        const int e = 2 * r + half;
        bool holds = true;
        if (kMasked && kAxes == kMaskLine) {
          holds = static_cast<unsigned>(line_base[r] + 8 * j + 4 * half) < extent[r][2];
        } else if (kMasked) {
          holds = (kAxes == kMaskAxes12 || static_cast<unsigned>(k.j[0] - lo[r][0]) < extent[r][0]) &
                  (static_cast<unsigned>(k.j[1] - lo[r][1]) < extent[r][1]) &
                  (static_cast<unsigned>(k.j[2] - lo[r][2]) < extent[r][2]);
        }
        float x = s[j][e];
        if (kBiased) {
          const int key_part = kAxes == kMaskLine ? line_rpb + line0 + 8 * j + quad + 4 * half : k.rpb_part;
          x += __ldg(rpb + (holds ? key_part + rpb_row[r] : 0)) * dev::kLog2e;
        }
        s[j][e] = holds ? x : -INFINITY;
      }
    }
    dev::compiler_fence();  // one column tile's key coordinates at a time in registers
  }
}

// Scales the raw scores of one chunk to the log2 domain (unless kPrescaled: the forward folds scale * log2(e)
// into Q), adds the bias and masks: element e of column tile j is row (e / 2) of the thread's two rows and key
// 8 j + quad + 4 (e % 2) of the chunk (see natten/cuda/mma.h). Row: anything with the window (lo, hi) and
// rpb_part of a query row (QueryRow, or RowWindow in shared memory). The chunk's kind and the bias are uniform
// over the CTA: each combination runs its own straight-line code.
template <int kNT, bool kPrescaled = false, class Row>
NATTEN_DEVICE void score_chunk(const Params& p, float (&s)[kNT][4], int kind, int chunk_extra0, const KeyInfo* info,
                               const Row& row0, const Row& row1, int h, int quad) {
  if (!kPrescaled) {
#pragma unroll
    for (int j = 0; j < kNT; j++) {
#pragma unroll
      for (int e = 0; e < 4; e++) {
        s[j][e] *= p.scale_log2;
      }
    }
  }
  if (kind == kChunkExtra) {
#pragma unroll
    for (int j = 0; j < kNT; j++) {
#pragma unroll
      for (int e = 0; e < 4; e++) {
        s[j][e] = chunk_extra0 + 8 * j + quad + 4 * (e & 1) < p.n_extra ? s[j][e] : -INFINITY;
      }
    }
  } else if (kind == kChunkMasked) {
    if (p.has_rpb) {
      mask_and_bias<true, true>(p, s, info, row0, row1, h, quad);
    } else {
      mask_and_bias<true, false>(p, s, info, row0, row1, h, quad);
    }
  } else if (p.has_rpb) {
    mask_and_bias<false, true>(p, s, info, row0, row1, h, quad);
  }
}

// score_chunk (prescaled) with the lean mask for masked chunks: `axes` (a MaskAxes, uniform over the CTA) picks
// the test, line0 and line_rpb are mask_and_bias's.
template <int kNT, class Row>
NATTEN_DEVICE void score_chunk_lean(const Params& p, float (&s)[kNT][4], int kind, int chunk_extra0, const KeyInfo* info,
                                    const Row& row0, const Row& row1, int h, int quad, int axes, int line0,
                                    int line_rpb) {
  if (kind != kChunkMasked) {
    score_chunk<kNT, true>(p, s, kind, chunk_extra0, info, row0, row1, h, quad);
  } else if (axes == kMaskLine) {
    if (p.has_rpb) {
      mask_and_bias<true, true, kNT, kMaskLine>(p, s, info, row0, row1, h, quad, line0, line_rpb);
    } else {
      mask_and_bias<true, false, kNT, kMaskLine>(p, s, info, row0, row1, h, quad, line0, line_rpb);
    }
  } else if (axes == kMaskAxes12) {
    if (p.has_rpb) {
      mask_and_bias<true, true, kNT, kMaskAxes12>(p, s, info, row0, row1, h, quad);
    } else {
      mask_and_bias<true, false, kNT, kMaskAxes12>(p, s, info, row0, row1, h, quad);
    }
  } else {
    score_chunk<kNT, true>(p, s, kind, chunk_extra0, info, row0, row1, h, quad);
  }
}

// The forward's epilogue rows: rows first_row and first_row + 8 of the tile (a thread's two rows), the valid ones:
// f(r, output row, its index in the logsumexp) for r = 0, 1.
template <class F>
NATTEN_DEVICE void for_output_rows(const Params& p, const Tile& tile, int first_row, int64_t b, int h, F f) {
#pragma unroll
  for (int r = 0; r < 2; r++) {
    const QueryRow row = query_row(p, tile, first_row + 8 * r);
    if (row.valid) {
      const int64_t out_row = (b * p.tokens + row.token) * p.heads + h;
      f(r, p.output + out_row * p.head_dim_v, out_row);
    }
  }
}

// Non-finite rows. The chunked products take every key of a chunk for every row of the tile, masked keys with weight
// exactly 0: an Inf or NaN value of a key outside a row's window enters the row as 0 x Inf = NaN. float32's split
// operands (hi + lo) turn an infinite query or key into NaN scores (lo = Inf - Inf), so its logsumexp can come out
// NaN where the spec's is finite or infinite. Every row that holds a non-finite output (or, in float32, logsumexp)
// is therefore redone exactly by the threads that wrote it (redo_forward_row), once every row is stored: a rare path,
// inlined where the accumulators are dead (out of line, the call copied Params to the stack and spilled). In TF32 a
// non-finite logsumexp is exact (the operands' rounding keeps Inf and NaN), and then every weight, so every output of
// the row, is NaN: nothing to redo. Never taken on finite inputs, the path still costs the 2-D wgmma forward 2.5-6% on
// the H200; a separate redo kernel after the forward cost more (bench/CUDA_NOTES.md, round 20).
NATTEN_DEVICE bool is_finite(float x) { return (dev::float_bits(x) & 0x7fffffffu) < 0x7f800000u; }

// Whether the thread's part of a row (the sum of its outputs, or of their unnormalized accumulators: non-finite when
// one of them is; and the row's logsumexp) needs the redo.
template <bool kPrecise>
NATTEN_DEVICE bool forward_row_needs_redo(float out_sum, float lse) {
  return kPrecise ? !is_finite(lse) || !is_finite(out_sum) : is_finite(lse) && !is_finite(out_sum);
}

// The inputs of the call (query, key, value, rpb, extra tokens) into the reference's argument struct `a`.
template <class Args>
NATTEN_DEVICE void set_inputs(const Params& p, Args& a) {
  a.query = p.query;
  a.key = p.key;
  a.value = p.value;
  a.rpb = p.rpb;
  a.extra_key = p.extra_key;
  a.extra_value = p.extra_value;
}

// The exact redo of the thread's columns of output row `out_row` (those with (column / width) % 4 == quad: the
// fragment layout of its kernel), from the spec's sums in double (reference_rows.cuh). `lse` is the kernel's
// logsumexp: kept where finite, and only non-finite outputs are redone; where not (float32 only), the row's exact
// logsumexp replaces it (quad 0 writes it) and every column is redone. A non-finite exact logsumexp makes every
// weight NaN, so every output (no walk).
NATTEN_DEVICE void redo_forward_row(const Params& p, int64_t out_row, float lse, int quad, int width) {
  NAForwardArgs a;
  set_inputs(p, a);
  const bool every = !is_finite(lse);
  double exact_lse = lse;
  if (every) {
    exact_lse = reference::exact_lse(p.problem, a, out_row);
    if (quad == 0) {
      p.lse[out_row] = static_cast<float>(exact_lse);
    }
  }
  const bool lse_finite = is_finite(static_cast<float>(exact_lse));
  float* out = p.output + out_row * p.head_dim_v;
  for (int c = 0; c < p.head_dim_v; c++) {
    if ((c / width) % 4 != quad || (!every && is_finite(out[c]))) {
      continue;
    }
    out[c] = lse_finite ? static_cast<float>(reference::exact_output(p.problem, a, out_row, c, exact_lse))
                        : dev::bits_float(0x7fc00000u);
  }
}

template <class T>
__global__ void __launch_bounds__(T::kThreads, T::kMinBlocks) fna_forward_kernel(const Params p) {
#if NATTEN_SM80
  constexpr int kD = T::kHeadDim, kBN = T::kBlockN, kNT = kBN / 8, kSteps = T::kSteps;
  constexpr int kSA = T::kRowStrideA, kSK = T::kRowStrideK, kSQ = T::kRowStrideQ;
  constexpr bool kPrecise = T::kPrecise;
  // How the copies are spread over the threads (fna_common.cuh): the lean paths decode each row once; V's pairs
  // of rows go to one thread, which interleaves them (kLeanVPairs).
  constexpr int kQMap = T::kLeanCopies ? kMapRows : kMapIndex;
  constexpr int kKVMap = T::kLeanVPairs ? kMapRowPairs : kQMap;
  using FragA = dev::FragA<kPrecise>;
  using FragB = dev::FragB<kPrecise>;

  float* sQ = dev::dynamic_smem<float>();
  float* sK = sQ + T::kQFloats;
  float* sV = sK + T::kKFloats;
  KeyInfo* sInfo = reinterpret_cast<KeyInfo*>(sV + T::kVFloats);
  RowWindow* sRows = reinterpret_cast<RowWindow*>(sInfo + 2 * kBN);

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, group = lane >> 2, quad = lane & 3;
  const int h = blockIdx.y, hkv = h / p.heads_per_kv;
  const int64_t b = blockIdx.z;
  const Tile tile = make_tile(p, blockIdx.x);
  const KeyChunks chunks = KeyChunks::of<kBN>(p, tile);
  const Range reach = chunks.rows_reach(p, tile, 16 * warp, 16);  // this warp's part of the key box
  // kLeanWarpKind: the keys inside the window of every one of this warp's rows (judged on their span).
  Range warp_common[3];
  if (T::kLeanWarpKind) {
    int lo[3], hi[3];
    tile_rows_span(p, tile, 16 * warp, 16, lo, hi);
    for (int a = 0; a < 3; a++) {
      warp_common[a] =
          get_window_intersection(lo[a], hi[a] + 1, p.kernel[a], p.stride[a], tile.group_length[a], p.causal[a] != 0);
    }
  }
  // kLeanMask: the axes a masked chunk tests (see mask_and_bias).
  const int mask_axes = chunks.box.extent[0] != 1 ? kMaskAxes012 : (chunks.box.extent[1] != 1 ? kMaskAxes12 : kMaskLine);
  const int line_rpb = chunks.box.lo[0] * p.rpb_stride[0] + chunks.box.lo[1] * p.rpb_stride[1];
  // The query rows' windows wait in shared memory (registers are the scarce resource; the masked chunks read them).
  for (int r = tid; r < T::kBlockM; r += T::kThreads) {
    sRows[r] = RowWindow::of(query_row(p, tile, r));
  }
  const RowWindow& row0 = sRows[16 * warp + group];
  const RowWindow& row1 = sRows[16 * warp + group + 8];

  // Prologue: the query tile and the first chunk, in one copy group.
  const RowTile q_tile{sQ, kSQ, p.head_dim, p.vec4_qk, p.query};
  load_rows<T::kBlockM, kD, T::kThreads, kQMap>(q_tile, nullptr, [&](int r) {
    int ih[3], valid;
    tile_row_positions(p, tile, r, ih, valid);
    const int64_t row = (b * p.tokens + token_of(p, tile.group, ih)) * p.heads + h;
    return RowSources{valid ? p.query + row * p.head_dim : nullptr, nullptr};
  });
  chunks.load<kBN, kD, T::kThreads, kKVMap>(p, tile, b, hkv, 0, sK, kSA, sV, kSK, sInfo);
  dev::cp_async_commit();

  dev::OnlineSoftmax softmax;
  softmax.init();
  float acc[kSteps][4];
  dev::zero(acc);
  FragA q_frags[T::kQInRegisters ? kSteps : 2];
  const float* sQ_warp = sQ + 16 * warp * kSQ;

  for (int c = 0; c < chunks.count; c++) {
    const int stage = c & 1;
    float* sK_stage = sK + stage * kBN * kSA;
    float* sV_stage = sV + stage * kBN * kSK;
    auto load_next = [&] {
      chunks.load<kBN, kD, T::kThreads, kKVMap>(p, tile, b, hkv, c + 1, sK + (stage ^ 1) * kBN * kSA, kSA,
                                                sV + (stage ^ 1) * kBN * kSK, kSK, sInfo + (stage ^ 1) * kBN);
    };
    auto landed = [&] {
      // This thread's pieces have landed: Q takes the softmax scale (in the log2 domain) once, and in TF32
      // Q, K and V are rounded once here instead of at every fragment load.
      if (c == 0) {
        for_own_pieces<T::kBlockM, kD, T::kThreads, kQMap>(sQ, kSQ, [&](float* piece) {
          float v[4];
          dev::load4(piece, v);
#pragma unroll
          for (int e = 0; e < 4; e++) {
            v[e] *= p.scale_log2;
            if (T::kConvertInSmem) {
              v[e] = dev::bits_float(dev::to_tf32(v[e]));
            }
          }
          dev::store4(piece, v);
        });
      }
      if (T::kConvertInSmem && !T::kLeanTruncate) {
        for_own_pieces<kBN, kD, T::kThreads, kKVMap>(sK_stage, kSA, dev::round_tf32_piece);
      }
      if constexpr (T::kConvertInSmem && T::kLeanVPairs) {
        for_own_piece_pairs<kBN, kD, T::kThreads>(sV_stage, kSK, [](float* first, float* second) {
          dev::interleave_tf32_pieces(first, second, !T::kLeanTruncate);
        });
      } else if (T::kConvertInSmem && !T::kLeanTruncate) {
        for_own_pieces<kBN, kD, T::kThreads, kKVMap>(sV_stage, kSK, dev::round_tf32_piece);
      }
    };
    if constexpr (T::kLeanOneSync) {
      // One barrier per chunk: it publishes chunk c and also tells that every warp is done with chunk c - 1, whose
      // stage (and key coordinates) the copies of chunk c + 1 then reuse.
      dev::cp_async_wait<0>();
      landed();
      __syncthreads();
      if (c + 1 < chunks.count) {
        load_next();
      }
      dev::cp_async_commit();
    } else {
      advance_pipeline(c + 1 < chunks.count, load_next, landed);
    }

    if constexpr (T::kLeanQPairs) {
      if (c == 0) {
        // The barrier above published all of Q (scaled and rounded by the threads that copied it); each warp now
        // pairs the rows of its own 16-row block, which only it reads (one more barrier per CTA: c == 0 is uniform).
        float* q_block = sQ + 16 * warp * kSQ;
        for (int i = lane; i < 8 * (kD / 4); i += 32) {
          const int r = i / (kD / 4), col = 4 * (i % (kD / 4));
          dev::interleave_tf32_pieces(q_block + r * kSQ + col, q_block + (r + 8) * kSQ + col, false);
        }
        __syncthreads();
      }
    }
    auto load_q_pair = [&](FragA& a0, FragA& a1, int kp) {
      if constexpr (T::kLeanQPairs) {
        dev::load_a_pair_paired_rows<kPrecise>(a0, a1, sQ_warp + 16 * kp, kSQ, group, quad);
      } else {
        dev::load_a_pair<kPrecise>(a0, a1, sQ_warp + 16 * kp, kSQ, group, quad);
      }
    };
    if (T::kQInRegisters && c == 0) {
#pragma unroll
      for (int kp = 0; kp < kSteps / 2; kp++) {
        load_q_pair(q_frags[T::kQInRegisters ? 2 * kp : 0], q_frags[T::kQInRegisters ? 2 * kp + 1 : 1], kp);
      }
    }

    // A chunk outside this warp's reach: every score of its rows would be masked (warp-uniform; the barrier
    // below stays outside the branch).
    if (!chunks.outside<kBN>(c, reach)) {
      int kind = chunks.kind<kBN>(c);
      if (T::kLeanWarpKind && kind == kChunkMasked && (c + 1) * kBN <= chunks.box.volume &&
          chunks.box.run_inside(c * kBN, kBN, warp_common)) {
        kind = kChunkFull;  // every key of the chunk is in every window of this warp's rows
      }
      // One chunk. kSkip (kLeanNSkip, masked box chunks): the MMAs of the column tiles (8 keys) outside this warp's
      // reach are skipped (their keys are masked for every row of the warp: P is 0 there); a warp-uniform range.
      auto chunk_body = [&](auto skip) {
        constexpr bool kSkip = decltype(skip)::value;
        int j_lo = 0, j_hi = kNT;
        if (kSkip) {
          const int u0 = c * kBN;
          j_lo = reach.lo > u0 ? (reach.lo - u0) >> 3 : 0;
          j_hi = reach.hi - u0 < kBN ? (reach.hi - u0 + 7) >> 3 : kNT;
        }
        // S = Q K^T (the k order of load_a_pair)
        float s[kNT][4];
        dev::zero(s);
#pragma unroll
        for (int kp = 0; kp < kSteps / 2; kp++) {
          FragA a0, a1;
          if (T::kQInRegisters) {
            a0 = q_frags[T::kQInRegisters ? 2 * kp : 0];
            a1 = q_frags[T::kQInRegisters ? 2 * kp + 1 : 1];
          } else {
            load_q_pair(a0, a1, kp);
          }
#pragma unroll
          for (int j = 0; j < kNT; j++) {
            if (!kSkip || (j >= j_lo && j < j_hi)) {
              FragB b0, b1;
              dev::load_b_pair_rows_as_n<kPrecise>(b0, b1, sK_stage + 8 * j * kSA + 16 * kp, kSA, group, quad);
              dev::mma<kPrecise>(s[j], a0, b0);
              dev::mma<kPrecise>(s[j], a1, b1);
            }
          }
        }

        if (T::kLeanMask) {
          score_chunk_lean<kNT>(p, s, kind, (c - chunks.box_chunks) * kBN, sInfo + stage * kBN, row0, row1, h, quad,
                                mask_axes, chunks.box.lo[2] + c * kBN, line_rpb);
        } else {
          score_chunk<kNT, true>(p, s, kind, (c - chunks.box_chunks) * kBN, sInfo + stage * kBN, row0, row1, h,
                                 quad);
        }
        softmax.update<T::kLeanTree, T::kLeanLazy>(s, acc);

        // O += P V (acc's n axis in the order of load_b_quad_rows_as_k)
#pragma unroll
        for (int j = 0; j < kNT; j++) {
          if (!kSkip || (j >= j_lo && j < j_hi)) {
            FragA a;
            dev::a_from_c<kPrecise>(a, s[j]);
#pragma unroll
            for (int hq = 0; hq < kSteps / 4; hq++) {
              FragB bq[4];
              if constexpr (T::kLeanVPairs) {
                dev::load_b_quad_paired_rows<kPrecise>(bq, sV_stage + 8 * j * kSK + 32 * hq, kSK, group, quad);
              } else {
                dev::load_b_quad_rows_as_k<kPrecise>(bq, sV_stage + 8 * j * kSK + 32 * hq, kSK, group, quad);
              }
#pragma unroll
              for (int i = 0; i < 4; i++) {
                dev::mma<kPrecise>(acc[4 * hq + i], a, bq[i]);
              }
            }
          }
        }
      };
      if (T::kLeanNSkip && kind == kChunkMasked) {
        chunk_body(std::true_type{});
      } else {
        chunk_body(std::false_type{});
      }
    }
    if constexpr (!T::kLeanOneSync) {
      __syncthreads();  // the next iteration's copies reuse this chunk's stage
    }
  }

  // Epilogue: normalize and write the output rows and their logsumexp. Lane quad q holds, for e = 0 and 1, the
  // output columns 32 hq + 8 q + 4 e + {0..3} in acc[4 hq + {0..3}][2 r + e].
  float inv_sum[2], lse[2];
  softmax.finish(inv_sum, lse);
  int64_t redo_row[2] = {-1, -1};  // rows whose part here came out non-finite (redo_forward_row)
  for_output_rows(p, tile, 16 * warp + group, b, h, [&](int r, float* out, int64_t out_row) {
    float sum = 0.f;  // of the thread's outputs (non-finite: redo)
#pragma unroll
    for (int hq = 0; hq < kSteps / 4; hq++) {
#pragma unroll
      for (int e = 0; e < 2; e++) {
        const int col = 32 * hq + 8 * quad + 4 * e;
        float v[4];
#pragma unroll
        for (int i = 0; i < 4; i++) {
          v[i] = acc[4 * hq + i][2 * r + e] * inv_sum[r];
          sum += col + i < p.head_dim_v ? v[i] : 0.f;
        }
        if (p.vec4_out && col + 4 <= p.head_dim_v) {
          dev::store4(out + col, v);
        } else {
#pragma unroll
          for (int i = 0; i < 4; i++) {
            if (col + i < p.head_dim_v) {
              out[col + i] = v[i];
            }
          }
        }
      }
    }
    if (quad == 0) {
      p.lse[out_row] = lse[r];
    }
    redo_row[r] = forward_row_needs_redo<kPrecise>(sum, lse[r]) ? out_row : -1;
  });
#pragma unroll 1
  for (int r = 0; r < 2; r++) {  // one copy of the redo's code (selects, not indexing: no local memory)
    const int64_t row = r == 0 ? redo_row[0] : redo_row[1];
    if (row >= 0) {
      redo_forward_row(p, row, r == 0 ? lse[0] : lse[1], quad, 8);  // columns 32 hq + 8 quad + {0..7}
    }
  }
  dev::cp_async_wait<0>();  // no copy may outlive the block
#else
  __trap();
#endif
}

}  // namespace fna
}  // namespace cuda
}  // namespace natten
