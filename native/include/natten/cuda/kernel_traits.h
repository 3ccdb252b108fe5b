// Tile configurations of the fused kernels, one struct per kernel, parameterized by the padded head-dim
// bucket (32, 64, 128, 256: every head dim up to the bucket runs with zero-padded loads) and the precision
// (TF32, or float32 by three TF32 MMAs on split operands). The static_asserts hold the invariants that the
// kernels' fragment loads and copies rely on.
//
// Shared-memory row strides: rows read as MMA A fragments or as n-axis B fragments (8 rows x 4 columns
// per warp access) use stride = 4 (mod 32) floats, so the 32 lanes hit 32 distinct banks; rows read as
// k-axis B fragments (4 rows x 8 columns) use stride = 8 (mod 32). A tile read both ways (K in the dq
// kernel, Q and dO in the dk/dv kernel) takes the first and has two-way conflicts on the second.
#pragma once

#include "natten/na_mask.h"  // NATTEN_HOST_DEVICE

namespace natten {
namespace cuda {

constexpr int kMaxSmemBytes = 227 * 1024;  // the opt-in limit per block on sm_80 and sm_90
constexpr int kSmemBytesPerSm = 228 * 1024;  // sm_90's shared memory per SM, of which 1 KB is reserved per block
// Whether `blocks` CTAs of `bytes` of shared memory each fit on one SM (sm_90).
constexpr bool smem_fits_blocks(int bytes, int blocks) { return blocks * (bytes + 1024) <= kSmemBytesPerSm; }
constexpr int kHeadDimBuckets[] = {32, 64, 128, 256};
constexpr int kMaxFastHeadDim = 256;

// Blocks per multiprocessor the fused kernels are compiled for (__launch_bounds__): two lets each thread use
// up to 255 registers. Their shared memory allows at most two or three blocks anyway (one for the largest
// tiles), and without it ptxas capped some kernels at 168 registers and spilled.
constexpr int kMinBlocksPerSm = 2;
// The forward keeps Q's fragments in registers up to this head dim (above, with 64 accumulator registers per
// thread, ptxas spilled 40 bytes; Q's 16-byte loads from shared memory cost one load per two MMAs of S instead).
// Since the row windows moved to shared memory bucket 128 fits with Q in registers too (236-246 registers, no
// spills): the configurations with q_regs = 1 let the sweep compare.
constexpr int kQInRegistersMaxDim = 64;


template <int kHeadDim_>
struct HeadDimTraits {
  static constexpr int kHeadDim = kHeadDim_;
  static constexpr int kSteps = kHeadDim / 8;      // k-steps (and n-tiles) over the head dim
  static constexpr int kRowStrideA = kHeadDim + 4;  // floats per smem row read as A / n-axis B fragments
  static constexpr int kRowStrideK = kHeadDim + 8;  // floats per smem row read as k-axis B fragments
  static_assert(kHeadDim % 8 == 0, "head-dim buckets are whole MMA k-steps");
  static_assert(kRowStrideA % 32 == 4, "A / n-axis B fragment reads: 8 rows x 4 columns on 32 banks");
  static_assert(kRowStrideK % 32 == 8, "k-axis B fragment reads: 4 rows x 8 columns on 32 banks");
  static_assert(kRowStrideA % 4 == 0 && kRowStrideK % 4 == 0, "rows stay 16-byte aligned for cp.async");
};

// Forward configurations: warps per CTA (16 queries each) and keys per chunk. The dispatcher (launch.cu) picks
// one per problem; the benchmark's sweep can ask for any of them (RunOptions::forward_config). Configuration 0
// is the default; the others are compiled for TF32 only (float32 runs configuration 0).
struct ForwardConfig {
  int warps;
  int block_n;
  int min_blocks = 0;  // CTAs per multiprocessor to compile for (__launch_bounds__); 0: the default
  int q_regs = 0;      // 1: Q's fragments in registers whatever the head dim (up to 128); 0: the default rule
  int lean = 0;        // kLean* bits: the leaner code paths of the forward (fna_forward.cuh)
  int tile_by_reach = 0;  // 1: the query tile shape minimizes the keys per warp, not per CTA (launch.cu, choose_tile)
};
// The forward's leaner code paths, one bit each (ForwardConfig::lean), so that the sweep can weigh them one by one:
// kLeanCopies: each thread copies pieces of one row of a chunk (its address worked out once, by the thread that
// also writes the key's coordinates); kLeanMask: masked chunks test only the axes on which the key box is longer
// than one position, and a box that is one line (every 1-D problem) takes its keys' coordinates from their
// position, without reading them from shared memory; kLeanWarpKind: a chunk masked for the CTA that lies inside
// the window of each of a warp's 16 rows skips that warp's mask.
// kLeanTree: the softmax's row maximum and sum as pairwise trees (short dependency chains); kLeanVPairs: V's
// rows k and k + 4 of each 8-key block interleaved in shared memory, so that each B fragment of P V is one
// aligned register pair of a 16-byte load (no register moves before the MMAs); kLeanLazy: the softmax rescales
// the output only when a row's maximum grows by more than a margin (natten/cuda/softmax.h); kLeanNSkip: in masked
// chunks, the MMAs of the 8-key column tiles outside the warp's reach are skipped; kLeanOneSync: one barrier
// per chunk instead of two (the next chunk's copies are issued after the barrier that publishes this one);
// kLeanTruncate: K and V are not rounded to TF32 in shared memory (the MMA truncates them: about twice the
// rounding error; for the sweep to weigh, never a default without a look at the errors); kLeanQPairs: each
// warp's Q rows r and r + 8 interleaved in shared memory once (after the first chunk's barrier), so that each A
// fragment of S = Q K^T is one 16-byte load, without the eight register moves per fragment pair that
// load_a_pair's (x0, y0, x1, y1) order costs where Q is read from shared memory at every chunk (the H200's
// profile of 1d-long: 1.6 IMAD.MOV per HMMA).
// kLeanWgmma: a kernel of its own (fna_forward_wgmma.cuh), the products on Hopper's warpgroup MMA (sm_90a): one
// or two warpgroups (4 warps, 64 queries each) per CTA, Q and K in shared memory in wgmma's core-matrix layout, V
// transposed by the rounding pass, P from registers; with kLeanCopies, kLeanTree and kLeanLazy as above, the others
// ignored. At four CTAs per SM (min_blocks 4) it keeps one stage of V transposed (wgmma_vt_stages). With two
// warpgroups the query tile is chosen for the keys each warpgroup reaches (launch.cu, choose_tile).
constexpr int kLeanCopies = 1, kLeanMask = 2, kLeanWarpKind = 4, kLeanTree = 8, kLeanVPairs = 16,
              kLeanLazy = 32, kLeanNSkip = 64, kLeanOneSync = 128, kLeanTruncate = 256, kLeanQPairs = 512,
              kLeanWgmma = 1024;
constexpr ForwardConfig kForwardConfigs[] = {{4, 64}, {4, 32}, {8, 64}, {8, 32}, {2, 64}, {8, 128},
                                             {4, 32, 4}, {4, 64, 3}, {4, 32, 3}, {4, 16}, {8, 64, 0, 1},
                                             {4, 32, 0, 1},
                                             // Round 4 (H200 sweep of 2026-11-28 21:21 UTC, commit a9e34ea): the winners
                                             // 2d-nat lean 1, 2d-large lean 31, 3d-video lean 31, 1d-long 8x64 lean 63
                                             {4, 32, 4, 0, kLeanCopies}, {4, 32, 4, 0, 31}, {8, 64, 0, 0, 31},
                                             {8, 64, 0, 0, 63},
                                             // 2-D without the mask and warp-kind bits (they cost there), with the
                                             // trees, V pairs, lazy rescaling, column-tile skips, one barrier
                                             {4, 32, 4, 0, 25}, {4, 32, 4, 0, 57}, {4, 32, 4, 0, 89}, {4, 32, 4, 0, 153},
                                             {4, 32, 4, 0, 217},
                                             // the 2-D tile shapes by warp reach (2d-large: 16x4 instead of 8x8)
                                             {4, 32, 4, 0, kLeanCopies, 1}, {4, 32, 4, 0, 31, 1}, {4, 32, 4, 0, 217, 1},
                                             // 8x64 (1d-long, 3d-video) with column-tile skips, one barrier, no warp kind
                                             {8, 64, 0, 0, 127}, {8, 64, 0, 0, 255}, {8, 64, 0, 0, 123},
                                             {8, 64, 0, 0, 159},
                                             // 8x64 at two CTAs per SM (16 warps, 128 registers: spills), 128-query tiles
                                             {8, 64, 2, 0, 31}, {8, 64, 2, 0, 127}, {8, 64, 2, 0, 31, 1},
                                             // the winners without the rounding pass of K and V (truncated by the MMA)
                                             {4, 32, 4, 0, 31 | kLeanTruncate}, {8, 64, 0, 0, 63 | kLeanTruncate},
                                             // Round 7: the dispatcher's picks whose Q is read at every chunk, with
                                             // Q's rows paired
                                             {4, 32, 4, 0, kLeanCopies | kLeanQPairs}, {4, 32, 4, 0, 57 | kLeanQPairs},
                                             {8, 64, 2, 0, 127 | kLeanQPairs}, {8, 64, 2, 0, 255 | kLeanQPairs},
                                             // Hopper's warpgroup MMA: three or two CTAs per SM
                                             {4, 32, 3, 0, 41 | kLeanWgmma}, {4, 32, 2, 0, 41 | kLeanWgmma},
                                             // four CTAs per SM (16 warps; one stage of V transposed)
                                             {4, 32, 4, 0, 41 | kLeanWgmma},
                                             // two warpgroups of 64 queries sharing the copies, two CTAs per SM
                                             {8, 32, 2, 0, 41 | kLeanWgmma}};
constexpr int kForwardConfigCount = sizeof(kForwardConfigs) / sizeof(kForwardConfigs[0]);

// The default configuration of a head-dim bucket (its keys per chunk: shared memory stays under about 100 KB).
constexpr ForwardConfig default_forward_config(int head_dim) { return {4, head_dim <= 64 ? 64 : 32}; }

// The forward's Q row stride. Its rows are read by load_a_pair (rows group and group + 8, 16 bytes at column
// 4 quad): a stride of 16 (mod 32) floats puts the eight lanes of each 16-byte phase on distinct banks, 4 gives
// two-way conflicts. Up to head dim 64 Q is read once into registers (or, in the 4-CTAs-per-SM configuration,
// whose shared memory is then just under the limit, every chunk with those conflicts): 4; above, 16.
constexpr int forward_q_stride(int head_dim) { return head_dim + (head_dim <= 64 ? 4 : 16); }

// Shared memory of a forward configuration: Q, two stages of K (rows read as n-axis B fragments) and V (rows
// read as k-axis B fragments), two stages of key coordinates (4 ints per key) and the query rows' windows (8 ints
// per row).
constexpr int forward_smem_bytes(int head_dim, int warps, int block_n) {
  return 4 * (16 * warps * forward_q_stride(head_dim) + 2 * block_n * (head_dim + 4) + 2 * block_n * (head_dim + 8) +
              2 * block_n * 4 + 16 * warps * 8);
}

// The wgmma forward's operands in shared memory (fna_forward_wgmma.cuh; no-swizzle K-major core matrices of 8 rows
// x 16 bytes). Q and K (piece_at in fna_common.cuh): the core matrices of 4 columns for all `rows` rows form one
// block, 128 bytes apart (sbo), and the blocks are wgmma_block_floats(rows) apart (lbo), 16 bytes more than they
// fill, so that consecutive blocks start on consecutive 16-byte slots of the banks. V^T (head dims as rows, keys
// as columns, written element by element by the rounding pass): the sbo and lbo with the fewest bank conflicts
// for those stores under kMapQuads, found by checking every lane's address (none left; 4-way with the unpadded
// layout): with 32-key chunks sbo 36 floats and lbo 296 (head dim 64) or 152, with 64-key chunks K's layout.
NATTEN_HOST_DEVICE constexpr int wgmma_block_floats(int rows) { return 4 * rows + 4; }
NATTEN_HOST_DEVICE constexpr int wgmma_vt_sbo_floats(int block_n) { return block_n == 32 ? 36 : 32; }
NATTEN_HOST_DEVICE constexpr int wgmma_vt_block_floats(int head_dim, int block_n) {
  return block_n == 32 ? (head_dim == 64 ? 296 : 152) : wgmma_block_floats(head_dim);
}

// Shared memory of the wgmma forward: Q, two stages of K (core-matrix layouts), one of V as copied (the rounding
// pass reads it before the barrier after which the next chunk's copies go there) and two of V transposed (one
// at four CTAs per SM, wgmma_vt_stages), two stages of key coordinates and the query rows' windows; each part
// 128-byte aligned.
constexpr int wgmma_smem_part(int floats) { return (4 * floats + 127) / 128 * 128; }
NATTEN_HOST_DEVICE constexpr int wgmma_vt_stages(int min_blocks) { return min_blocks >= 4 ? 1 : 2; }
constexpr int forward_wgmma_smem_bytes(int head_dim, int warps, int block_n, int min_blocks) {
  return wgmma_smem_part(head_dim / 4 * wgmma_block_floats(16 * warps)) +
         wgmma_smem_part(2 * head_dim / 4 * wgmma_block_floats(block_n)) +
         wgmma_smem_part(block_n * (head_dim + 8)) +
         wgmma_smem_part(wgmma_vt_stages(min_blocks) * block_n / 4 * wgmma_vt_block_floats(head_dim, block_n)) +
         wgmma_smem_part(2 * block_n * 4) + wgmma_smem_part(16 * warps * 8);
}
constexpr int forward_smem_bytes(int head_dim, ForwardConfig c) {
  return (c.lean & kLeanWgmma) != 0 ? forward_wgmma_smem_bytes(head_dim, c.warps, c.block_n, c.min_blocks)
                                    : forward_smem_bytes(head_dim, c.warps, c.block_n);
}

// V's interleaved pairs need the rows k and k + 4 of each 8-key block spread evenly over the threads, at the same
// columns (kMapRowPairs in fna_common.cuh).
constexpr bool forward_row_pairs_fit(int head_dim, ForwardConfig c) {
  return (c.lean & kLeanVPairs) == 0 ||
         (2 * 32 * c.warps >= c.block_n && (32 * c.warps) % (c.block_n / 2) == 0 &&
          (head_dim / 4) % ((32 * c.warps) / (c.block_n / 2)) == 0);
}

constexpr bool forward_config_fits(int head_dim, ForwardConfig c) {
  const bool wgmma_ok = (c.lean & kLeanWgmma) == 0 ||
                       ((c.warps == 4 || c.warps == 8) && head_dim <= 64 && (c.block_n == 32 || c.block_n == 64) &&
                        c.q_regs == 0 && (c.lean & (kLeanVPairs | kLeanQPairs | kLeanNSkip)) == 0);
  return wgmma_ok && (c.q_regs != 1 || head_dim == 128) && forward_row_pairs_fit(head_dim, c) &&
         forward_smem_bytes(head_dim, c) <= kMaxSmemBytes &&
         (c.min_blocks == 0 || smem_fits_blocks(forward_smem_bytes(head_dim, c), c.min_blocks));
}

// Forward: a CTA of kWarps warps takes 16 kWarps queries (16 per warp) of one (batch, head) and walks the key
// chunks (kBlockN keys each).
//
// Fragment loads are 16 bytes wide. S = Q K^T takes the head dim (its k axis) in an order of its own: k-steps
// 2p and 2p + 1 read the 16 columns [16p, 16p + 16), lane quad q taking columns 16p + 4q + {0, 1} in step 2p
// and 16p + 4q + {2, 3} in step 2p + 1 (a dot product does not depend on the order of its terms; Q and K use
// the same one). O += P V takes the n axis (the head dim of V and of the output) permuted likewise: n-tile nt,
// column g holds dim 32 (nt / 4) + 4 g + nt % 4, so each lane reads four n-tiles' B values with one 16-byte
// load, and writes its output row 16 bytes at a time. In TF32 the thread that copied a piece of K or V rounds
// it to TF32 in place once the copy lands, so the fragments need no conversion.
template <int kHeadDim_, bool kPrecise_, int kWarps_ = default_forward_config(kHeadDim_).warps,
          int kBlockN_ = default_forward_config(kHeadDim_).block_n, int kMinBlocks_ = 0, int kQRegs_ = 0, int kLean_ = 0>
struct ForwardTraits : HeadDimTraits<kHeadDim_> {
  using Base = HeadDimTraits<kHeadDim_>;
  static constexpr int kHeadDim = kHeadDim_;
  static constexpr bool kPrecise = kPrecise_;
  static constexpr int kWarps = kWarps_;
  static constexpr int kThreads = 32 * kWarps;
  static constexpr int kBlockM = 16 * kWarps;                    // queries per CTA
  static constexpr int kBlockN = kBlockN_;                       // keys per chunk
  // Blocks per multiprocessor for __launch_bounds__: as many as asked (a register budget of 65536 / (threads x
  // blocks)), else kMinBlocksPerSm for 4 warps or fewer (a 256-thread CTA at two blocks would cap the registers
  // at 128), else 1.
  static constexpr int kMinBlocks = kMinBlocks_ > 0 ? kMinBlocks_ : (kWarps_ <= 4 ? kMinBlocksPerSm : 1);
  // Q fragments cached in registers for all chunks, unless the register budget is tight.
  static constexpr bool kQInRegisters =
      !kPrecise &&
      (kQRegs_ ? kHeadDim <= 128 : kHeadDim <= kQInRegistersMaxDim && kMinBlocks * kWarps_ <= 8);
  static constexpr bool kConvertInSmem = !kPrecise;              // K and V rounded to TF32 in shared memory
  static constexpr bool kLeanCopies = (kLean_ & natten::cuda::kLeanCopies) != 0;
  static constexpr bool kLeanMask = (kLean_ & natten::cuda::kLeanMask) != 0;
  static constexpr bool kLeanWarpKind = (kLean_ & natten::cuda::kLeanWarpKind) != 0;
  static constexpr bool kLeanTree = (kLean_ & natten::cuda::kLeanTree) != 0;
  static constexpr bool kLeanVPairs = (kLean_ & natten::cuda::kLeanVPairs) != 0;
  static constexpr bool kLeanLazy = (kLean_ & natten::cuda::kLeanLazy) != 0;
  static constexpr bool kLeanNSkip = (kLean_ & natten::cuda::kLeanNSkip) != 0;
  static constexpr bool kLeanOneSync = (kLean_ & natten::cuda::kLeanOneSync) != 0;
  static constexpr bool kLeanTruncate = (kLean_ & natten::cuda::kLeanTruncate) != 0;
  static constexpr bool kLeanQPairs = (kLean_ & natten::cuda::kLeanQPairs) != 0;
  static constexpr bool kLeanWgmma = (kLean_ & natten::cuda::kLeanWgmma) != 0;
  static constexpr int kRowStrideQ = forward_q_stride(kHeadDim);
  static constexpr int kQFloats = kBlockM * kRowStrideQ;
  static constexpr int kKFloats = 2 * kBlockN * Base::kRowStrideA;  // two stages
  static constexpr int kVFloats = 2 * kBlockN * Base::kRowStrideK;
  static constexpr int kInfoInts = 2 * kBlockN * 4;                 // key coordinates per stage
  static constexpr int kRowInts = kBlockM * 8;                      // query rows' windows
  static constexpr int kSmemBytes = kLeanWgmma ? forward_wgmma_smem_bytes(kHeadDim, kWarps_, kBlockN, kMinBlocks_)
                                               : 4 * (kQFloats + kKFloats + kVFloats + kInfoInts + kRowInts);
  static_assert(kLeanWgmma || kSmemBytes == forward_smem_bytes(kHeadDim, kWarps, kBlockN),
                "one formula for the forward's smem");
  static_assert(kBlockN % 8 == 0, "chunks are whole MMA n-tiles");
  static_assert(Base::kSteps % 4 == 0, "16-byte fragment loads: k-step pairs of S, n-tile quads of P V");
  static_assert(kRowStrideQ % 32 == (kHeadDim <= 64 ? 4 : 16), "Q's row stride: see forward_q_stride");
  static_assert(kWarps >= 1 && kWarps <= 8, "CTAs of 1 to 8 warps");
  static_assert(kBlockN <= kThreads, "one thread per key writes a chunk's key coordinates");
  static_assert(!kLeanVPairs || kConvertInSmem, "V's pairs are interleaved by the TF32 rounding pass");
  static_assert(!kLeanQPairs || kConvertInSmem, "Q's pairs hold TF32 operands (the lean paths are TF32 only)");
  static_assert(kSmemBytes <= kMaxSmemBytes, "forward tile exceeds shared memory");
  static_assert(kMinBlocks_ == 0 || smem_fits_blocks(kSmemBytes, kMinBlocks), "the blocks asked for exceed shared memory");
};

// dQ (and dRpb, dExtra): a CTA of 4 warps takes 64 queries and walks the same key chunks as the forward.
template <int kHeadDim_, bool kPrecise_>
struct DqTraits : HeadDimTraits<kHeadDim_> {
  using Base = HeadDimTraits<kHeadDim_>;
  static constexpr int kHeadDim = kHeadDim_;
  static constexpr bool kPrecise = kPrecise_;
  static constexpr int kWarps = 4;
  static constexpr int kThreads = 32 * kWarps;
  static constexpr int kBlockM = 16 * kWarps;
  static constexpr int kBlockN = kHeadDim <= 32 ? 64 : (kHeadDim <= 128 ? 32 : 16);
  static constexpr int kQFloats = kBlockM * Base::kRowStrideA;       // Q
  static constexpr int kOFloats = kBlockM * Base::kRowStrideA;       // dO
  static constexpr int kKFloats = 2 * kBlockN * Base::kRowStrideA;   // K, two stages
  static constexpr int kVFloats = 2 * kBlockN * Base::kRowStrideA;   // V (read as n-axis B for dP = dO V^T)
  static constexpr int kInfoInts = 2 * kBlockN * 4;
  static constexpr int kExtraFloats = 2 * kBlockM * kBlockN;         // P and dS of an extra-token chunk
  // Plus, when one head's rpb fits beside it, its gradient (accumulated in smem, then one atomic per entry).
  static constexpr int kSmemBytes = 4 * (kQFloats + kOFloats + kKFloats + kVFloats + kInfoInts + kExtraFloats);
  static_assert(kBlockN % 8 == 0, "chunks are whole MMA n-tiles");
  static_assert(kSmemBytes <= kMaxSmemBytes, "dq tile exceeds shared memory");
};

// dK/dV: a CTA of 4 warps takes 64 keys (16 per warp) of one (batch, key head) and walks the chunks of the
// queries that see them (every query head of the GQA group), accumulating dK and dV in registers, for
// kColTile columns of the head dim (bucket 256 runs two CTAs per key tile, one per half).
template <int kHeadDim_, bool kPrecise_>
struct DkvTraits : HeadDimTraits<kHeadDim_> {
  using Base = HeadDimTraits<kHeadDim_>;
  static constexpr int kHeadDim = kHeadDim_;
  static constexpr bool kPrecise = kPrecise_;
  static constexpr int kWarps = 4;
  static constexpr int kThreads = 32 * kWarps;
  static constexpr int kBlockM = 16 * kWarps;                     // keys per CTA
  static constexpr int kBlockN = kHeadDim <= 64 ? 32 : 16;        // queries per chunk
  static constexpr int kColTile = kHeadDim <= 128 ? kHeadDim : 128;
  static constexpr int kColSplits = kHeadDim / kColTile;
  static constexpr bool kKVInRegisters = !kPrecise && kHeadDim <= 64;
  static constexpr int kKFloats = kBlockM * Base::kRowStrideA;
  static constexpr int kVFloats = kBlockM * Base::kRowStrideA;
  static constexpr int kQFloats = 2 * kBlockN * Base::kRowStrideA;
  static constexpr int kOFloats = 2 * kBlockN * Base::kRowStrideA;
  static constexpr int kInfoInts = 2 * kBlockN * 12;  // per query: window lo[3] + rpb part, hi[3] + valid, lse, delta
  static constexpr int kSmemBytes = 4 * (kKFloats + kVFloats + kQFloats + kOFloats + kInfoInts);
  static_assert(kBlockN % 8 == 0, "chunks are whole MMA n-tiles");
  static_assert(kColTile % 8 == 0 && kHeadDim % kColTile == 0, "column split into whole n-tiles");
  static_assert(kSmemBytes <= kMaxSmemBytes, "dk/dv tile exceeds shared memory");
};

}  // namespace cuda
}  // namespace natten
