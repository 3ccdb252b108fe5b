#include "geometry.h"

#include <algorithm>

#include "natten/na_mask.h"

namespace natten {
namespace cpu {

namespace {

// Query tokens per unit of the row kernels.
constexpr int64_t kRowChunkTokens = 64;
// The backward kernels cut each (batch, kv head) into chunks until there are this many units...
constexpr int64_t kMinUnits = 16;
// ...but never into chunks of fewer query tokens than this (their partial buffers would be mostly halo).
constexpr int64_t kMinScatterChunkTokens = 256;

Chunks even_chunks(int64_t tokens, int64_t count) {
  Chunks c;
  count = std::max<int64_t>(1, std::min(count, tokens));
  for (int64_t i = 0; i <= count; ++i) {
    c.start.push_back(tokens * i / count);
  }
  return c;
}

}  // namespace

Geometry::Geometry(const Problem& p) : p_(p) {
  tokens_ = static_cast<int64_t>(p.length[0]) * p.length[1] * p.length[2];
  kernel_volume_ = p.kernel[0] * p.kernel[1] * p.kernel[2];
  rpb_volume_ = 1;
  for (int a = 0; a < 3; ++a) {
    rpb_extent_[a] = 2 * p.kernel[a] - 1;
    rpb_volume_ *= rpb_extent_[a];
    const int L = p.length[a];
    first_[a].resize(L);
    count_[a].resize(L);
    rpb_base_[a].resize(L);
    for (int i = 0; i < L; ++i) {
      const AxisWindow w = get_axis_window(i, L, p.kernel[a], p.stride[a], p.dilation[a], p.causal[a]);
      first_[a][i] = w.first;
      count_[a][i] = w.count;
      rpb_base_[a][i] = w.rpb_base;
    }
  }
}

int Geometry::neighbors(int64_t t, int32_t* key_token, int32_t* rpb_offset, int32_t* slot) const {
  const int L1 = p_.length[1], L2 = p_.length[2];
  const int x = static_cast<int>(t % L2);
  const int y = static_cast<int>((t / L2) % L1);
  const int z = static_cast<int>(t / (static_cast<int64_t>(L1) * L2));
  const int c0 = count_[0][z], c1 = count_[1][y], c2 = count_[2][x];
  const int f0 = first_[0][z], f1 = first_[1][y], f2 = first_[2][x];
  const int b0 = rpb_base_[0][z], b1 = rpb_base_[1][y], b2 = rpb_base_[2][x];
  const int d0 = p_.dilation[0], d1 = p_.dilation[1], d2 = p_.dilation[2];
  const int k1 = p_.kernel[1], k2 = p_.kernel[2];
  const int r1 = rpb_extent_[1], r2 = rpb_extent_[2];
  int n = 0;
  for (int a = 0; a < c0; ++a) {
    const int row_z = (f0 + a * d0) * L1;
    const int rpb_z = (b0 + a) * r1;
    for (int b = 0; b < c1; ++b) {
      const int row_y = (row_z + f1 + b * d1) * L2;
      const int rpb_y = (rpb_z + b1 + b) * r2;
      const int slot_y = (a * k1 + b) * k2;
      for (int c = 0; c < c2; ++c) {
        key_token[n] = row_y + f2 + c * d2;
        rpb_offset[n] = rpb_y + b2 + c;
        if (slot != nullptr) {
          slot[n] = slot_y + c;
        }
        ++n;
      }
    }
  }
  return n;
}

void Geometry::key_range(int64_t t0, int64_t t1, int64_t* lo, int64_t* hi) const {
  const int64_t L1 = p_.length[1], L2 = p_.length[2];
  int64_t low = tokens_, high = 0;
  for (int64_t t = t0; t < t1; ++t) {
    const int x = static_cast<int>(t % L2);
    const int y = static_cast<int>((t / L2) % L1);
    const int z = static_cast<int>(t / (L1 * L2));
    int64_t first = 0, last = 0;
    const int coord[3] = {z, y, x};
    for (int a = 0; a < 3; ++a) {
      const int64_t scale = a == 0 ? L1 * L2 : a == 1 ? L2 : 1;
      first += first_[a][coord[a]] * scale;
      last += (first_[a][coord[a]] + (count_[a][coord[a]] - 1) * p_.dilation[a]) * scale;
    }
    low = std::min(low, first);
    high = std::max(high, last + 1);
  }
  *lo = low;
  *hi = high;
}

void Geometry::axis_tables(int a, const int32_t** first, const int32_t** count, const int32_t** rpb_base) const {
  *first = first_[a].data();
  *count = count_[a].data();
  *rpb_base = rpb_base_[a].data();
}

Chunks row_chunks(const Geometry& g) {
  return even_chunks(g.tokens(), (g.tokens() + kRowChunkTokens - 1) / kRowChunkTokens);
}

Chunks scatter_chunks(const Geometry& g) {
  const Problem& p = g.problem();
  const int64_t groups = static_cast<int64_t>(p.batch) * p.heads_kv;
  const int64_t wanted = (kMinUnits + groups - 1) / groups;
  const int64_t most = std::max<int64_t>(1, g.tokens() / kMinScatterChunkTokens);
  return even_chunks(g.tokens(), std::min(wanted, most));
}

}  // namespace cpu
}  // namespace natten
