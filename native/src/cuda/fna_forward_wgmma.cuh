// The fused forward on Hopper's warpgroup MMA (wgmma, sm_90a; ForwardConfig lean bit kLeanWgmma).
//
// The same walk as fna_forward.cuh (a tile of 64 or 128 queries of one (batch, head), the union box of its
// windows in key chunks, then the extra tokens; two stages of copies, one barrier per chunk, or two at four CTAs per
// SM, where V^T has one stage; the online softmax in registers), with the products issued by warpgroups of four
// warps, one per 64 queries (two share each chunk's copies):
//  - S = Q K^T: head-dim / 8 wgmma m64nBNk8, Q and K read from shared memory, where the copies put them in wgmma's
//    core-matrix layout (piece_at; K's rows paired so that the scores come out in the mma.sync kernel's key order,
//    which the masks use); Q scaled and both rounded to TF32 in place by the thread that copied each piece.
//  - O += P V: BN / 8 wgmma m64nDk8, P from registers (in that key order its C fragment is A's register order:
//    keys q and q + 4 of each 8-key block are A's columns q and q + 4), V transposed into the core-matrix layout
//    (head dims as rows, keys as columns) by the rounding pass.
// Accumulators of warp w: rows 16 w + group (+ 8), as the mma.sync kernel's, so the masks and the softmax are
// shared. Every warp of a warpgroup takes the same chunks (wgmma is a warpgroup instruction: no per-warp skipping);
// with two warpgroups, each skips the box chunks outside its rows' reach.
#pragma once

#include "fna_forward.cuh"

namespace natten {
namespace cuda {
namespace fna {

template <class T>
__global__ void __launch_bounds__(T::kThreads, T::kMinBlocks) fna_forward_wgmma_kernel(const Params p) {
#if NATTEN_SM80
  constexpr int kD = T::kHeadDim, kBN = T::kBlockN, kNT = kBN / 8, kSK = T::kRowStrideK;
  constexpr int kQMap = T::kLeanCopies ? kMapQuads : kMapIndex;
  // Floats per stage, and the strides of the core-matrix layouts (kernel_traits.h): Q and K by piece_at, V^T's
  // written below.
  // kWG warpgroups of 64 queries each (T::kBlockM in all) share the chunks' copies; each issues its own products
  // and skips the box chunks outside the reach of its rows.
  constexpr int kWG = T::kWarps / 4, kM = T::kBlockM;
  constexpr int kQBlock = wgmma_block_floats(kM), kKBlock = wgmma_block_floats(kBN);
  constexpr int kVtBlock = wgmma_vt_block_floats(kD, kBN), kVtSbo = wgmma_vt_sbo_floats(kBN);
  constexpr int kKStage = kD / 4 * kKBlock, kVtStage = kBN / 4 * kVtBlock;
  static_assert((kWG == 1 || kWG == 2) && T::kWarps == 4 * kWG && kM == 64 * kWG && !T::kPrecise,
                "TF32 warpgroups of 64 queries, one or two");
  static_assert(kD == 32 || kD == 64, "wgmma's N for P V is the head-dim bucket: 32 or 64");

  auto part = [](int floats) { return (4 * floats + 127) / 128 * 32; };  // 128-byte aligned parts, in floats
  float* sQ = dev::dynamic_smem<float>();
  float* sK = sQ + part(kD / 4 * kQBlock);        // two stages of kBN x kD, core-matrix layout
  float* sV = sK + part(2 * kKStage);             // kBN rows of kSK floats, as copied (one stage)
  constexpr int kVtStages = wgmma_vt_stages(T::kMinBlocks);
  float* sVT = sV + part(kBN * kSK);              // kVtStages stages of V transposed, core-matrix layout
  KeyInfo* sInfo = reinterpret_cast<KeyInfo*>(sVT + part(kVtStages * kVtStage));
  RowWindow* sRows = reinterpret_cast<RowWindow*>(reinterpret_cast<float*>(sInfo) + part(2 * kBN * 4));

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, group = lane >> 2, quad = lane & 3;
  // The warpgroup, known to be warp-uniform, so that its descriptors stay in uniform registers (without it, 72
  // bytes of spills at two warpgroups); a constant with one.
  const int wg = kWG > 1 ? dev::warp_uniform(warp >> 2) : 0;
  const int h = blockIdx.y, hkv = h / p.heads_per_kv;
  const int64_t b = blockIdx.z;
  const Tile tile = make_tile(p, blockIdx.x);
  const KeyChunks chunks = KeyChunks::of<kBN>(p, tile);
  for (int r = tid; r < kM; r += T::kThreads) {
    sRows[r] = RowWindow::of(query_row(p, tile, r));
  }
  // This warpgroup's part of the key box (two warpgroups: the chunks outside it hold only keys its rows mask).
  const Range reach = kWG > 1 ? chunks.rows_reach(p, tile, 64 * wg, 64) : Range{0, 0};
  const RowWindow& row0 = sRows[16 * warp + group];
  const RowWindow& row1 = sRows[16 * warp + group + 8];

  // Prologue: the query tile and the first chunk, in one copy group.
  const RowTile q_tile{sQ, 0, p.head_dim, p.vec4_qk, p.query, kM};
  load_rows<kM, kD, T::kThreads, kQMap>(q_tile, nullptr, [&](int r) {
    int ih[3], valid;
    tile_row_positions(p, tile, r, ih, valid);
    const int64_t row = (b * p.tokens + token_of(p, tile.group, ih)) * p.heads + h;
    return RowSources{valid ? p.query + row * p.head_dim : nullptr, nullptr};
  });
  chunks.load<kBN, kD, T::kThreads, kQMap>(p, tile, b, hkv, 0, sK, 0, sV, kSK, sInfo, kBN);
  dev::cp_async_commit();

  dev::OnlineSoftmax softmax;
  softmax.init();
  float acc[kD / 8][4];
  dev::zero(acc);
  // Descriptors (K-major core matrices: lbo along K, sbo along M or N), made once; a k-step or a stage adds its
  // offset in 16-byte units to the start address field, in the low word (shared memory ends below 2^18 bytes:
  // no carry out of the field), so each product costs one 32-bit add.
  // Q: one core-matrix layout of kM rows; warpgroup wg's 64 start 8 core matrices (256 floats) in.
  const uint64_t q_desc = dev::smem_desc(sQ + 256 * wg, 4 * kQBlock, 128);
  const uint64_t k_desc = dev::smem_desc(sK, 4 * kKBlock, 128);
  const uint64_t vt_desc = dev::smem_desc(sVT, 4 * kVtBlock, 4 * kVtSbo);
  auto with_offset = [](uint64_t desc, uint32_t units) {
    return (desc & 0xffffffff00000000ull) | static_cast<uint32_t>(static_cast<uint32_t>(desc) + units);
  };
  for (int c = 0; c < chunks.count; c++) {
    const int stage = c & 1;
    float* sK_stage = sK + stage * kKStage;
    const int vt_stage = kVtStages == 2 ? stage : 0;
    float* sVT_stage = sVT + vt_stage * kVtStage;
    const uint64_t k_stage_desc = with_offset(k_desc, stage * kKStage / 4);
    const uint64_t vt_stage_desc = with_offset(vt_desc, vt_stage * kVtStage / 4);
    // This thread's pieces of chunk c have landed: Q (first chunk) takes the scale in the log2 domain, Q and K
    // are rounded to TF32 in place (tf32_rna_piece_unit: wgmma drops the low bits), and V's pieces go to the
    // transposed stage (transpose_v: here with two stages; with one, after the barrier, see below).
    dev::cp_async_wait<0>();
    if (c == 0) {
      for_own_pieces<kM, kD, T::kThreads, kQMap>(sQ, 0, [&](float* piece) {
        dev::round_tf32_piece_for_wgmma(piece, p.scale_log2);
      }, kM);
    }
    for_own_pieces<kBN, kD, T::kThreads, kQMap>(sK_stage, 0, [](float* piece) {
      dev::round_tf32_piece_for_wgmma(piece);
    }, kBN, 1);
    auto transpose_v = [&] {
      for_own_pieces_at<kBN, kD, T::kThreads, kQMap>(sV, kSK, [&](float* piece, int n, int col) {
        float v[4];
        dev::load4(piece, v);
        const uint32_t unit = dev::tf32_rna_piece_unit(v);
#pragma unroll
        for (int e = 0; e < 4; e++) {
          // Row col + e (a head dim) of V^T, column n (a key): core matrix (n / 4, (col + e) / 8).
          const int d = col + e;
          sVT_stage[(n >> 2) * kVtBlock + (d >> 3) * kVtSbo + (d & 7) * 4 + (n & 3)] =
              dev::bits_float(dev::float_bits(v[e]) + unit);
        }
      });
      dev::fence_proxy_async();
    };
    if constexpr (kVtStages == 2) {
      transpose_v();
    }
    dev::wgmma_wait0();  // the previous chunk's P V, in flight during the pass above
    // The chunk's barrier: it publishes chunk c, and tells that every warp is done with chunk c - 1, whose
    // stages the copies of chunk c + 1 then reuse (its products were waited for before that warp got here), and
    // with V as copied, which the pass above has read.
    __syncthreads();

    // This warpgroup's products: none for a box chunk outside the reach of its rows (uniform over the warpgroup;
    // it still takes its part of the copies and barriers).
    const bool active = kWG == 1 || !chunks.outside<kBN>(c, reach);
    // S = Q K^T, issued first: the next chunk's copies (into the other stages and V as copied, which S does not
    // read) are worked out and issued while the products run.
    float s[kNT][4];
    if (active) {
      dev::zero(s);
      dev::wgmma_fence();
#pragma unroll
      for (int ks = 0; ks < kD / 8; ks++) {
        dev::wgmma_ss<kBN>(reinterpret_cast<float(&)[kBN / 2]>(s), with_offset(q_desc, ks * 2 * kQBlock / 4),
                           with_offset(k_stage_desc, ks * 2 * kKBlock / 4));
      }
      dev::wgmma_commit();
    }
    if constexpr (kVtStages == 1) {
      // One stage of V^T: every warp's P V of chunk c - 1 is done (the barrier above), so it is written now, while S
      // runs, from the pieces of V this thread copied (before its copies of the next chunk go there); a second
      // barrier below publishes it before P V.
      transpose_v();
    }
    if (c + 1 < chunks.count) {
      chunks.load<kBN, kD, T::kThreads, kQMap>(p, tile, b, hkv, c + 1, sK + (stage ^ 1) * kKStage, 0,
                                              sV, kSK, sInfo + (stage ^ 1) * kBN, kBN);
    }
    dev::cp_async_commit();

    uint32_t a[kNT][4];
    if (active) {
      dev::wgmma_wait0();
      score_chunk<kNT, true>(p, s, chunks.kind<kBN>(c), (c - chunks.box_chunks) * kBN, sInfo + stage * kBN, row0,
                             row1, h, quad);
      softmax.update<T::kLeanTree, T::kLeanLazy>(s, acc);
      // P as P V's A operand
#pragma unroll
      for (int j = 0; j < kNT; j++) {
        a[j][0] = dev::tf32_rna_unit(s[j][0]);  // P: in [0, 1], or NaN
        a[j][1] = dev::tf32_rna_unit(s[j][2]);
        a[j][2] = dev::tf32_rna_unit(s[j][1]);
        a[j][3] = dev::tf32_rna_unit(s[j][3]);
#pragma unroll
        for (int e = 0; e < 4; e++) {
          dev::fence_operand(a[j][e]);
        }
      }
    }
    if constexpr (kVtStages == 1) {
      __syncthreads();
    }
    if (active) {
      // O += P V, waited for before the next chunk's barrier: its rounding pass runs meanwhile.
      dev::wgmma_fence();
#pragma unroll
      for (int j = 0; j < kNT; j++) {
        dev::wgmma_rs<kD>(reinterpret_cast<float(&)[kD / 2]>(acc), a[j],
                          with_offset(vt_stage_desc, j * 2 * kVtBlock / 4));
      }
      dev::wgmma_commit();
    }
  }
  dev::wgmma_wait0();

  // Epilogue: acc[nb][2 r + e] is head dim 8 nb + 2 quad + e of row group + 8 r of this warp's 16.
  float inv_sum[2], lse[2];
  softmax.finish(inv_sum, lse);
  int64_t redo_row[2] = {-1, -1};  // TF32 only: see redo_forward_row (fna_forward.cuh)
  for_output_rows(p, tile, 16 * warp + group, b, h, [&](int r, float* out, int64_t out_row) {
    dev::store_c_row(out, acc, r, 0, p.head_dim_v, inv_sum[r], quad, p.vec4_out != 0);
    if (quad == 0) {
      p.lse[out_row] = lse[r];
    }
    const float sum = dev::c_row_sum(acc, r, 0, p.head_dim_v, quad);  // finite inv_sum where the lse is
    redo_row[r] = forward_row_needs_redo<false>(sum, lse[r]) ? out_row : -1;
  });
#pragma unroll 1
  for (int r = 0; r < 2; r++) {  // one copy of the redo's code (selects, not indexing: no local memory)
    const int64_t row = r == 0 ? redo_row[0] : redo_row[1];
    if (row >= 0) {
      redo_forward_row(p, row, r == 0 ? lse[0] : lse[1], quad, 2);  // columns 8 nb + 2 quad + {0, 1}
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
