// The fused backward kernels. With P = exp(S - lse) recomputed from the saved logsumexp,
//   dP = dO V^T,  dS = P * (dP - delta),  delta = rowsum(dO * O) - dLse,
//   dQ = scale dS K,  dK = scale dS^T Q,  dV = P^T dO,  dRpb = sum of dS per bias entry.
// Three kernels: delta (one warp per query row); dq, query-tiled like the forward (it also reduces dRpb,
// in shared memory then with one atomic per entry, and the extra tokens' gradients, which every query
// shares: per chunk a block reduction, then atomics); dk/dv, key-tiled over the inverse neighborhood of a
// key tile (the queries whose windows meet it, every query head of the GQA group), accumulating in registers
// with no atomics. Computing dq apart from dk/dv costs a second recomputation of S and dP, but avoids
// atomics on dq and keeps each kernel's accumulators in registers.
#pragma once

#include "fna_forward.cuh"

namespace natten {
namespace cuda {
namespace fna {

constexpr int kDeltaThreads = 256;

static __global__ void __launch_bounds__(kDeltaThreads) fna_delta_kernel(const Params p) {
  const int warps = blockDim.x >> 5, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t rows = p.batch * p.tokens * p.heads;
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * warps + warp; row < rows;
       row += static_cast<int64_t>(gridDim.x) * warps) {
    const float* o = p.output + row * p.head_dim_v;
    const float* g = p.d_output + row * p.head_dim_v;
    float s = 0.f;
    for (int c = lane; c < p.head_dim_v; c += 32) {
      s += o[c] * g[c];
    }
    for (int m = 16; m > 0; m >>= 1) {
      s += dev::shfl_xor(s, m);
    }
    if (lane == 0) {
      p.delta[row] = s - (p.d_lse != nullptr ? p.d_lse[row] : 0.f);
    }
  }
}

// Non-finite gradients. As in the forward (redo_forward_row), the chunked products take every key (dq) or query
// (dk/dv) of a chunk, masked ones with weight exactly 0, so an Inf or NaN outside a window (a key, a value, a
// query, an output gradient, or a NaN row's delta) enters as 0 x Inf = NaN, and float32's split operands turn
// infinite queries and keys into NaN scores. A gradient element that comes out non-finite is therefore redone
// exactly (reference_rows.cuh: exact_dq, exact_dkv) by the thread that wrote it, once every row is stored.
// kind 0: dq of query row `row`; 1, 2: dk, dv of key row `row`. The thread's columns are col0 + 8 n + 2 quad +
// {0, 1} below col0 + cols (store_c_row's layout).
NATTEN_DEVICE void redo_grad_row(const Params& p, int kind, int64_t row, int col0, int cols, int quad) {
  NABackwardArgs a;
  set_inputs(p, a);
  a.output = p.output;
  a.logsumexp = p.lse_in;
  a.d_output = p.d_output;
  a.d_logsumexp = p.d_lse;
  const int dim = kind == 2 ? p.head_dim_v : p.head_dim;
  float* out = (kind == 0 ? p.d_query : kind == 1 ? p.d_key : p.d_value) + row * dim;
  for (int c = col0; c < col0 + cols && c < dim; c++) {
    if (((c - col0) / 2) % 4 != quad || is_finite(out[c])) {
      continue;
    }
    out[c] = static_cast<float>(kind == 0 ? reference::exact_dq(p.problem, a, p.delta, row, c)
                                          : reference::exact_dkv(p.problem, a, p.delta, row,
                                                                 kind == 1 ? c : p.head_dim + c));
  }
}

template <class T>
__global__ void __launch_bounds__(T::kThreads, kMinBlocksPerSm) fna_dq_kernel(const Params p) {
#if NATTEN_SM80
  constexpr int kD = T::kHeadDim, kBM = T::kBlockM, kBN = T::kBlockN, kNT = kBN / 8, kSteps = T::kSteps;
  constexpr int kSA = T::kRowStrideA;
  constexpr bool kPrecise = T::kPrecise;
  using FragA = dev::FragA<kPrecise>;

  float* sQ = dev::dynamic_smem<float>();
  float* sO = sQ + T::kQFloats;
  float* sK = sO + T::kOFloats;
  float* sV = sK + T::kKFloats;
  KeyInfo* sInfo = reinterpret_cast<KeyInfo*>(sV + T::kVFloats);
  float* sExtraP = reinterpret_cast<float*>(sInfo + 2 * kBN);
  float* sExtraDS = sExtraP + kBM * kBN;
  float* sRpb = sExtraDS + kBM * kBN;

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, group = lane >> 2, quad = lane & 3;
  const int h = blockIdx.y, hkv = h / p.heads_per_kv;
  const int64_t b = blockIdx.z;
  const Tile tile = make_tile(p, blockIdx.x);
  const KeyChunks chunks = KeyChunks::of<kBN>(p, tile);
  const QueryRow rows[2] = {query_row(p, tile, 16 * warp + group), query_row(p, tile, 16 * warp + group + 8)};
  const Range reach = chunks.rows_reach(p, tile, 16 * warp, 16);  // this warp's part of the key box
  float lse2[2], delta[2];
#pragma unroll
  for (int r = 0; r < 2; r++) {
    const int64_t row = (b * p.tokens + rows[r].token) * p.heads + h;
    lse2[r] = p.lse_in[row] * dev::kLog2e;
    delta[r] = p.delta[row];
  }
  const bool rpb_smem = p.has_rpb && p.rpb_in_smem;
  if (rpb_smem) {
    for (int i = tid; i < p.rpb_volume; i += T::kThreads) {
      sRpb[i] = 0.f;
    }
  }
  float* d_rpb = rpb_smem ? sRpb : (p.has_rpb ? p.d_rpb + static_cast<int64_t>(h) * p.rpb_volume : nullptr);

  const RowTile q_tile{sQ, kSA, p.head_dim, p.vec4_qk, p.query};
  const RowTile o_tile{sO, kSA, p.head_dim_v, p.vec4_v, p.d_output};
  load_rows<kBM, kD, T::kThreads>(q_tile, &o_tile, [&](int r) {
    int ih[3], valid;
    tile_row_positions(p, tile, r, ih, valid);
    const int64_t row = (b * p.tokens + token_of(p, tile.group, ih)) * p.heads + h;
    return valid ? RowSources{p.query + row * p.head_dim, p.d_output + row * p.head_dim_v} : RowSources{nullptr, nullptr};
  });
  chunks.load<kBN, kD, T::kThreads>(p, tile, b, hkv, 0, sK, kSA, sV, kSA, sInfo);
  dev::cp_async_commit();

  float dq[kSteps][4];
  dev::zero(dq);
  const float* sQ_warp = sQ + 16 * warp * kSA;
  const float* sO_warp = sO + 16 * warp * kSA;

  for (int c = 0; c < chunks.count; c++) {
    const int stage = c & 1;
    advance_pipeline(c + 1 < chunks.count, [&] {
      chunks.load<kBN, kD, T::kThreads>(p, tile, b, hkv, c + 1, sK + (stage ^ 1) * kBN * kSA, kSA,
                                        sV + (stage ^ 1) * kBN * kSA, kSA, sInfo + (stage ^ 1) * kBN);
    });
    const float* sK_stage = sK + stage * kBN * kSA;
    const float* sV_stage = sV + stage * kBN * kSA;
    const KeyInfo* info = sInfo + stage * kBN;

    // A box chunk outside this warp's reach holds only keys its rows mask: nothing to add (warp-uniform; extra
    // chunks, whose block reduction has a barrier, are never outside).
    if (!chunks.outside<kBN>(c, reach)) {
      // S = Q K^T and dP = dO V^T.
      float s[kNT][4], dp[kNT][4];
      dev::zero(s);
      dev::zero(dp);
#pragma unroll
      for (int kk = 0; kk < kSteps; kk++) {
        FragA qa, oa;
        dev::load_a<kPrecise>(qa, sQ_warp + 8 * kk, kSA, group, quad);
        dev::load_a<kPrecise>(oa, sO_warp + 8 * kk, kSA, group, quad);
        dev::mma_pair_rows_as_n<kPrecise>(s, dp, qa, oa, sK_stage + 8 * kk, sV_stage + 8 * kk, kSA, group, quad);
      }

      const int kind = chunks.kind<kBN>(c);
      const int extra0 = (c - chunks.box_chunks) * kBN;
      score_chunk<kNT>(p, s, kind, extra0, info, rows[0], rows[1], h, quad);
      // P and dS (in s and dp); dRpb of the unmasked scores of real rows.
#pragma unroll
      for (int j = 0; j < kNT; j++) {
#pragma unroll
        for (int e = 0; e < 4; e++) {
          const int r = e >> 1;
          const float prob = dev::fast_exp2(s[j][e] - lse2[r]);
          const float ds = prob * (dp[j][e] - delta[r]);
          if (p.has_rpb && kind != kChunkExtra && rows[r].valid) {
            const int n = 8 * j + quad + 4 * (e & 1);
            const KeyInfo k = info[n];
            if (kind == kChunkFull || window_holds(rows[r].lo, rows[r].hi, k.j)) {
              atomicAdd(d_rpb + k.rpb_part + rows[r].rpb_part, ds);
            }
          }
          s[j][e] = prob;
          dp[j][e] = ds;
        }
      }

      if (kind == kChunkExtra) {
        // dExtraK[e] += scale sum_q dS[q][e] Q[q], dExtraV[e] += sum_q P[q][e] dO[q]: stage P and dS, reduce.
#pragma unroll
        for (int j = 0; j < kNT; j++) {
#pragma unroll
          for (int e = 0; e < 4; e++) {
            const int r = e >> 1;
            const int row = 16 * warp + group + 8 * r, n = 8 * j + quad + 4 * (e & 1);
            sExtraP[row * kBN + n] = rows[r].valid ? s[j][e] : 0.f;
            sExtraDS[row * kBN + n] = rows[r].valid ? dp[j][e] : 0.f;
          }
        }
        __syncthreads();
        const int width = p.head_dim + p.head_dim_v;
        for (int idx = tid; idx < kBN * width; idx += T::kThreads) {
          const int n = idx / width, col = idx % width, e = extra0 + n;
          if (e >= p.n_extra) {
            continue;
          }
          const int64_t extra_row = (b * p.n_extra + e) * p.heads_kv + hkv;
          float sum = 0.f;
          if (col < p.head_dim) {
            for (int r = 0; r < kBM; r++) {
              sum += sExtraDS[r * kBN + n] * sQ[r * kSA + col];
            }
            atomicAdd(p.d_extra_key + extra_row * p.head_dim + col, sum * p.scale);
          } else {
            for (int r = 0; r < kBM; r++) {
              sum += sExtraP[r * kBN + n] * sO[r * kSA + col - p.head_dim];
            }
            atomicAdd(p.d_extra_value + extra_row * p.head_dim_v + col - p.head_dim, sum);
          }
        }
      }

      dev::mma_c_by_rows<kPrecise>(dq, dp, sK_stage, kSA, group, quad);  // dQ += dS K
    }
    __syncthreads();
  }

  int64_t redo_row[2] = {-1, -1};  // rows whose part here came out non-finite (redo_grad_row)
#pragma unroll
  for (int r = 0; r < 2; r++) {
    if (!rows[r].valid) {
      continue;
    }
    const int64_t q_row = (b * p.tokens + rows[r].token) * p.heads + h;
    dev::store_c_row(p.d_query + q_row * p.head_dim, dq, r, 0, p.head_dim, p.scale, quad);
    if (!is_finite(dev::c_row_sum(dq, r, 0, p.head_dim, quad))) {
      redo_row[r] = q_row;
    }
  }
#pragma unroll 1
  for (int r = 0; r < 2; r++) {  // one copy of the redo's code (selects, not indexing: no local memory)
    const int64_t row = r == 0 ? redo_row[0] : redo_row[1];
    if (row >= 0) {
      redo_grad_row(p, 0, row, 0, 8 * kSteps, quad);
    }
  }
  if (rpb_smem) {
    __syncthreads();
    float* d_rpb_head = p.d_rpb + static_cast<int64_t>(h) * p.rpb_volume;
    for (int i = tid; i < p.rpb_volume; i += T::kThreads) {
      if (sRpb[i] != 0.f) {
        atomicAdd(d_rpb_head + i, sRpb[i]);
      }
    }
  }
  dev::cp_async_wait<0>();  // no copy may outlive the block
#else
  __trap();
#endif
}

// A query of a dk/dv chunk as staged in shared memory.
struct alignas(16) QueryInfo {
  int lo[3];     // window [lo, hi) per axis, in-group key positions (empty for a query past the box)
  int rpb_part;  // sum over axes of (k - 1 - ih) * rpb_stride
  int hi[3];
  int valid;
  float lse2;  // logsumexp * log2(e)
  float delta;
  int pad[2];
};

// The query chunks of a key tile: the inverse neighborhood box, walked once per query head of the group.
struct QueryChunks {
  Box box;
  int per_head;
  int count;

  template <int kBlockN>
  NATTEN_DEVICE static QueryChunks of(const Params& p, const Tile& t) {
    QueryChunks q;
    Range queries[3];
    for (int a = 0; a < 3; a++) {
      queries[a] = get_inverse_neighborhood(t.lo[a], t.hi[a], p.kernel[a], p.stride[a], t.group_length[a],
                                            p.causal[a] != 0);
    }
    q.box.set(queries);
    q.per_head = (q.box.volume + kBlockN - 1) / kBlockN;
    q.count = q.per_head * p.heads_per_kv;
    return q;
  }

  // The positions [lo, hi) of the box (row-major) of the queries whose windows hold a key of tile rows
  // [r0, r0 + n) (the inverse neighborhood, per axis, of tile_rows_span): chunks outside it are skipped by the
  // warp that owns those keys (every probability there would be masked).
  NATTEN_DEVICE Range rows_reach(const Params& p, const Tile& t, int r0, int n) const {
    int lo[3], hi[3];
    tile_rows_span(p, t, r0, n, lo, hi);
    for (int a = 0; a < 3; a++) {
      const Range w = get_inverse_neighborhood(lo[a], hi[a] + 1, p.kernel[a], p.stride[a], t.group_length[a],
                                               p.causal[a] != 0);
      lo[a] = w.lo;
      hi[a] = w.hi - 1;
    }
    return Range{box.encode(lo), box.encode(hi) + 1};
  }

  template <int kBlockN>
  NATTEN_DEVICE bool outside(int c, const Range& reach) const {
    const int u0 = (c % per_head) * kBlockN;
    return u0 >= reach.hi || u0 + kBlockN <= reach.lo;
  }

  // Whether every key of the tile is inside the window of every query of chunk c (and none is past the box).
  template <int kBlockN>
  NATTEN_DEVICE bool full(const Params& p, const Tile& t, int c) const {
    const int u0 = (c % per_head) * kBlockN;
    if (u0 + kBlockN > box.volume) {
      return false;
    }
    int lo[3], hi[3];
    box.run_bounds(u0, kBlockN, lo, hi);
    for (int a = 0; a < 3; a++) {
      const Range common = get_window_intersection(lo[a], hi[a] + 1, p.kernel[a], p.stride[a], t.group_length[a],
                                                   p.causal[a] != 0);
      if (t.lo[a] < common.lo || t.hi[a] > common.hi) {
        return false;
      }
    }
    return true;
  }

  template <int kBlockN, int kWidth, int kThreads>
  NATTEN_DEVICE void load(const Params& p, const Tile& t, int64_t b, int hkv, int c, float* q_dst, float* o_dst,
                          int stride, QueryInfo* info) const {
    const int h = hkv * p.heads_per_kv + c / per_head;
    const int u0 = (c % per_head) * kBlockN;
    const RowTile q_tile{q_dst, stride, p.head_dim, p.vec4_qk, p.query};
    const RowTile o_tile{o_dst, stride, p.head_dim_v, p.vec4_v, p.d_output};
    load_rows<kBlockN, kWidth, kThreads>(q_tile, &o_tile, [&](int n) {
      return box_rows(p, t, box, u0, n, b, p.heads, h, p.query, p.head_dim, p.d_output, p.head_dim_v);
    });
    if (threadIdx.x < kBlockN) {
      QueryInfo q;
      const int u = u0 + threadIdx.x;
      q.pad[0] = q.pad[1] = 0;
      if (u < box.volume) {
        int ih[3];
        box.decode(u, ih);
        q.rpb_part = query_window(p, t, ih, q.lo, q.hi);
        const int64_t qrow = (b * p.tokens + token_of(p, t.group, ih)) * p.heads + h;
        q.valid = 1;
        q.lse2 = p.lse_in[qrow] * dev::kLog2e;
        q.delta = p.delta[qrow];
      } else {
        for (int a = 0; a < 3; a++) {
          q.lo[a] = 1;
          q.hi[a] = 0;
        }
        q.rpb_part = 0;
        q.valid = 0;
        q.lse2 = 0.f;
        q.delta = 0.f;
      }
      info[threadIdx.x] = q;
    }
  }
};

template <class T>
__global__ void __launch_bounds__(T::kThreads, kMinBlocksPerSm) fna_dkv_kernel(const Params p) {
#if NATTEN_SM80
  constexpr int kD = T::kHeadDim, kBM = T::kBlockM, kBN = T::kBlockN, kNT = kBN / 8, kSteps = T::kSteps;
  constexpr int kColSteps = T::kColTile / 8;
  constexpr int kSA = T::kRowStrideA;
  constexpr bool kPrecise = T::kPrecise;
  constexpr bool kCache = T::kKVInRegisters;
  using FragA = dev::FragA<kPrecise>;

  float* sK = dev::dynamic_smem<float>();
  float* sV = sK + T::kKFloats;
  float* sQ = sV + T::kVFloats;
  float* sO = sQ + T::kQFloats;
  QueryInfo* sInfo = reinterpret_cast<QueryInfo*>(sO + T::kOFloats);

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, group = lane >> 2, quad = lane & 3;
  const int hkv = blockIdx.y / T::kColSplits;
  const int col0 = (blockIdx.y % T::kColSplits) * T::kColTile;
  const int64_t b = blockIdx.z;
  const Tile tile = make_tile(p, blockIdx.x);
  const QueryChunks chunks = QueryChunks::of<kBN>(p, tile);
  const Range reach = chunks.rows_reach(p, tile, 16 * warp, 16);  // the queries that see this warp's keys

  // The two key rows of this thread.
  int key_j[2][3], key_valid[2], key_rpb[2];
  int64_t key_token[2];
#pragma unroll
  for (int r = 0; r < 2; r++) {
    tile_row_positions(p, tile, 16 * warp + group + 8 * r, key_j[r], key_valid[r]);
    key_rpb[r] = key_j[r][0] * p.rpb_stride[0] + key_j[r][1] * p.rpb_stride[1] + key_j[r][2] * p.rpb_stride[2];
    key_token[r] = token_of(p, tile.group, key_j[r]);
  }

  const RowTile k_tile{sK, kSA, p.head_dim, p.vec4_qk, p.key};
  const RowTile v_tile{sV, kSA, p.head_dim_v, p.vec4_v, p.value};
  load_rows<kBM, kD, T::kThreads>(k_tile, &v_tile, [&](int r) {
    int jh[3], valid;
    tile_row_positions(p, tile, r, jh, valid);
    const int64_t row = (b * p.tokens + token_of(p, tile.group, jh)) * p.heads_kv + hkv;
    return valid ? RowSources{p.key + row * p.head_dim, p.value + row * p.head_dim_v} : RowSources{nullptr, nullptr};
  });
  if (chunks.count > 0) {
    chunks.load<kBN, kD, T::kThreads>(p, tile, b, hkv, 0, sQ, sO, kSA, sInfo);
  }
  dev::cp_async_commit();

  float dk[kColSteps][4], dv[kColSteps][4];
  dev::zero(dk);
  dev::zero(dv);
  FragA k_frags[kCache ? kSteps : 1], v_frags[kCache ? kSteps : 1];
  const float* sK_warp = sK + 16 * warp * kSA;
  const float* sV_warp = sV + 16 * warp * kSA;

  for (int c = 0; c < chunks.count; c++) {
    const int stage = c & 1;
    advance_pipeline(c + 1 < chunks.count, [&] {
      chunks.load<kBN, kD, T::kThreads>(p, tile, b, hkv, c + 1, sQ + (stage ^ 1) * kBN * kSA,
                                        sO + (stage ^ 1) * kBN * kSA, kSA, sInfo + (stage ^ 1) * kBN);
    });
    if (kCache && c == 0) {
#pragma unroll
      for (int kk = 0; kk < kSteps; kk++) {
        dev::load_a<kPrecise>(k_frags[kCache ? kk : 0], sK_warp + 8 * kk, kSA, group, quad);
        dev::load_a<kPrecise>(v_frags[kCache ? kk : 0], sV_warp + 8 * kk, kSA, group, quad);
      }
    }
    const float* sQ_stage = sQ + stage * kBN * kSA;
    const float* sO_stage = sO + stage * kBN * kSA;
    const QueryInfo* info = sInfo + stage * kBN;
    const int h = hkv * p.heads_per_kv + c / chunks.per_head;

    // A chunk of queries none of which sees this warp's keys adds nothing (warp-uniform).
    if (!chunks.outside<kBN>(c, reach)) {
      // S^T = K Q^T and dP^T = V dO^T (rows: keys; columns: the chunk's queries).
      float st[kNT][4], dpt[kNT][4];
      dev::zero(st);
      dev::zero(dpt);
#pragma unroll
      for (int kk = 0; kk < kSteps; kk++) {
        FragA ka, va;
        if (kCache) {
          ka = k_frags[kCache ? kk : 0];
          va = v_frags[kCache ? kk : 0];
        } else {
          dev::load_a<kPrecise>(ka, sK_warp + 8 * kk, kSA, group, quad);
          dev::load_a<kPrecise>(va, sV_warp + 8 * kk, kSA, group, quad);
        }
        dev::mma_pair_rows_as_n<kPrecise>(st, dpt, ka, va, sQ_stage + 8 * kk, sO_stage + 8 * kk, kSA, group, quad);
      }

      // P^T and dS^T, masked where the query's window does not hold the key.
      const bool full = chunks.full<kBN>(p, tile, c);
      const float* rpb = p.has_rpb ? p.rpb + static_cast<int64_t>(h) * p.rpb_volume : nullptr;
#pragma unroll
      for (int j = 0; j < kNT; j++) {
#pragma unroll
        for (int e = 0; e < 4; e++) {
          const int r = e >> 1, n = 8 * j + quad + 4 * (e & 1);
          const QueryInfo q = info[n];
          float prob = 0.f;
          if (full || window_holds(q.lo, q.hi, key_j[r])) {
            float x = st[j][e] * p.scale_log2 - q.lse2;
            if (p.has_rpb) {
              x += __ldg(rpb + key_rpb[r] + q.rpb_part) * dev::kLog2e;
            }
            prob = dev::fast_exp2(x);
          }
          st[j][e] = prob;
          dpt[j][e] = prob * (dpt[j][e] - q.delta);
        }
      }

      // dV += P^T dO and dK += dS^T Q over this CTA's columns.
      dev::mma_c_by_rows<kPrecise>(dv, st, sO_stage + col0, kSA, group, quad);
      dev::mma_c_by_rows<kPrecise>(dk, dpt, sQ_stage + col0, kSA, group, quad);
    }
    __syncthreads();
  }

  int64_t redo_row[2] = {-1, -1};  // key rows whose dk or dv part here came out non-finite (redo_grad_row)
  bool redo_dk[2] = {false, false}, redo_dv[2] = {false, false};
#pragma unroll
  for (int r = 0; r < 2; r++) {
    if (!key_valid[r]) {
      continue;
    }
    const int64_t kv_row = (b * p.tokens + key_token[r]) * p.heads_kv + hkv;
    dev::store_c_row(p.d_key + kv_row * p.head_dim, dk, r, col0, p.head_dim, p.scale, quad);
    dev::store_c_row(p.d_value + kv_row * p.head_dim_v, dv, r, col0, p.head_dim_v, 1.f, quad);
    redo_dk[r] = !is_finite(dev::c_row_sum(dk, r, col0, p.head_dim, quad));
    redo_dv[r] = !is_finite(dev::c_row_sum(dv, r, col0, p.head_dim_v, quad));
    redo_row[r] = redo_dk[r] || redo_dv[r] ? kv_row : -1;
  }
#pragma unroll 1
  for (int i = 0; i < 4; i++) {  // dk, dv of rows 0, 1: one copy of the redo's code (selects, not indexing)
    const int r = i >> 1;
    const int64_t row = r == 0 ? redo_row[0] : redo_row[1];
    const bool redo = (i & 1) == 0 ? (r == 0 ? redo_dk[0] : redo_dk[1]) : (r == 0 ? redo_dv[0] : redo_dv[1]);
    if (row >= 0 && redo) {
      redo_grad_row(p, 1 + (i & 1), row, col0, 8 * kColSteps, quad);
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
