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

namespace natten {
namespace cuda {

constexpr int kMaxSmemBytes = 227 * 1024;  // the opt-in limit per block on sm_80 and sm_90
constexpr int kHeadDimBuckets[] = {32, 64, 128, 256};
constexpr int kMaxFastHeadDim = 256;

// Blocks per multiprocessor the fused kernels are compiled for (__launch_bounds__): two lets each thread use
// up to 255 registers. Their shared memory allows at most two or three blocks anyway (one for the largest
// tiles), and without it ptxas capped some kernels at 168 registers and spilled.
constexpr int kMinBlocksPerSm = 2;

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

// Forward: a CTA of 4 warps takes 64 queries (16 per warp) of one (batch, head) and walks the key chunks.
template <int kHeadDim_, bool kPrecise_>
struct ForwardTraits : HeadDimTraits<kHeadDim_> {
  using Base = HeadDimTraits<kHeadDim_>;
  static constexpr int kHeadDim = kHeadDim_;
  static constexpr bool kPrecise = kPrecise_;
  static constexpr int kWarps = 4;
  static constexpr int kThreads = 32 * kWarps;
  static constexpr int kBlockM = 16 * kWarps;                    // queries per CTA
  static constexpr int kBlockN = kHeadDim <= 64 ? 64 : 32;       // keys per chunk
  static constexpr bool kQInRegisters = !kPrecise && kHeadDim <= 128;  // Q fragments cached for all chunks
  static constexpr int kQFloats = kBlockM * Base::kRowStrideA;
  static constexpr int kKFloats = 2 * kBlockN * Base::kRowStrideA;  // two stages
  static constexpr int kVFloats = 2 * kBlockN * Base::kRowStrideK;
  static constexpr int kInfoInts = 2 * kBlockN * 4;                 // key coordinates per stage
  static constexpr int kSmemBytes = 4 * (kQFloats + kKFloats + kVFloats + kInfoInts);
  static_assert(kBlockN % 8 == 0, "chunks are whole MMA n-tiles");
  static_assert(kSmemBytes <= kMaxSmemBytes, "forward tile exceeds shared memory");
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
