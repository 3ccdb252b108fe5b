// Host-compiled twin of test/native_mask.test.ts: writes, as int32 values on stdout, every function of
// native/include/natten/na_mask.h evaluated on every (L, k, s, d, causal) with L < 40, in the order the test
// enumerates them with src/core/na_mask.ts. The test compares the two streams value for value. The tile-level
// helpers (stride-group leaders, and union, intersection and inverse neighborhood of every tile [lo, lo + m)
// of every dilation group; the tiles of the axis) are folded into FNV-1a hashes per configuration and group so
// the stream stays small; a mismatch still names the configuration, the group and the function family.
#include <cstdint>
#include <cstdio>
#include <vector>

#include "natten/na_mask.h"

namespace {

std::vector<int32_t> out;

void put(int v) { out.push_back(static_cast<int32_t>(v)); }

// FNV-1a over the bytes of 32-bit values (test/native_mask.test.ts computes the same).
struct Hash {
  uint32_t h = 2166136261u;
  void add(int v) {
    const uint32_t u = static_cast<uint32_t>(v);
    for (int b = 0; b < 4; b++) {
      h ^= (u >> (8 * b)) & 0xffu;
      h *= 16777619u;
    }
  }
};

const int kTileSizes[] = {1, 2, 3, 5, 8, 16};

void dump_config(int L, int k, int s, int d, bool causal) {
  using namespace natten;
  put(get_window_left(k));
  put(get_window_right(k));
  for (int i = 0; i < L; i++) {
    const AxisWindow w = get_axis_window(i, L, k, s, d, causal);
    put(w.first);
    put(w.count);
    put(w.rpb_base);
  }
  if (L < 16) {
    for (int i = 0; i < L; i++) {
      for (int j = 0; j < L; j++) {
        const bool n = is_neighbor(i, j, L, k, s, d, causal);
        put(n ? 1 : 0);
        put(n ? get_rpb_index(i, j, k, d) : 0);
      }
    }
  }
  for (int g = 0; g < d; g++) {
    const int Lg = get_group_length(L, d, g);
    put(Lg);
    Hash hash;
    for (int ih = 0; ih < Lg; ih++) {
      hash.add(get_dilation_group(ih * d + g, d));
      hash.add(get_stride_group_leader(ih, s, Lg, causal));
    }
    for (int m : kTileSizes) {
      for (int lo = 0; lo < Lg; lo++) {
        const int hi = lo + m < Lg ? lo + m : Lg;
        const Range u = get_window_union(lo, hi, k, s, Lg, causal);
        const Range x = get_window_intersection(lo, hi, k, s, Lg, causal);
        const Range v = get_inverse_neighborhood(lo, hi, k, s, Lg, causal);
        const int values[] = {u.lo, u.hi, x.lo, x.hi, v.lo, v.hi};
        for (int value : values) {
          hash.add(value);
        }
      }
    }
    put(static_cast<int>(hash.h));
  }
  Hash tiles;
  for (int m : kTileSizes) {
    const int count = get_axis_tile_count(L, d, m);
    tiles.add(count);
    for (int t = 0; t < count; t++) {
      const AxisTile tile = get_axis_tile(t, L, d, m);
      tiles.add(tile.group);
      tiles.add(tile.lo);
      tiles.add(tile.hi);
    }
  }
  put(static_cast<int>(tiles.h));
}

}  // namespace

int main() {
  for (int L = 2; L < 40; L++) {
    for (int k = 2; k <= L; k++) {
      for (int d = 1; k * d <= L; d++) {
        for (int s = 1; s <= k; s++) {
          for (int c = 0; c < 2; c++) {
            dump_config(L, k, s, d, c == 1);
          }
        }
      }
    }
  }
  std::fwrite(out.data(), sizeof(int32_t), out.size(), stdout);
  return 0;
}
