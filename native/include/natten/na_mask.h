// Neighborhood index math for the native kernels (CUDA and host C++), written once for C++.
//
// It mirrors src/core/na_mask.ts function for function (same names in snake_case, same formulas), and the
// tests hold it to the TypeScript version on every (L, k, s, d, causal) with L < 40. Everything is per
// spatial axis; a key is a neighbor of a query iff it is a neighbor along every axis. Vocabulary follows
// NATTEN's reference mask: window left/right, dilation group, stride-group leader.
//
// Notation for one axis: L length, k kernel size, s stride, d dilation, i query coordinate, j key
// coordinate. Names ending in _hat are positions inside a dilation group.
#pragma once

#if defined(__CUDACC__)
#define NATTEN_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define NATTEN_HOST_DEVICE inline
#endif

namespace natten {

// Number of window slots left of the query (even kernels get one more on the left).
NATTEN_HOST_DEVICE int get_window_left(int k) { return k >> 1; }

// Number of window slots right of the query.
NATTEN_HOST_DEVICE int get_window_right(int k) { return (k >> 1) + (k & 1) - 1; }

// Dilation group of a coordinate.
NATTEN_HOST_DEVICE int get_dilation_group(int i, int d) { return i % d; }

// Length of dilation group g of an axis of length L (L need not be divisible by d).
// (The d == 1 and s == 1 shortcuts here and below give the same results; they spare the kernels an integer
// division, which costs about twenty instructions on a GPU.)
NATTEN_HOST_DEVICE int get_group_length(int L, int d, int g) { return d == 1 ? L - g : (L - g + d - 1) / d; }

// Stride-group leader: the in-group position whose window the query i_hat shares.
NATTEN_HOST_DEVICE int get_stride_group_leader(int i_hat, int s, int group_length, bool causal) {
  const int first = s == 1 ? i_hat : (i_hat / s) * s;
  const int offset = causal ? s - 1 : (s >> 1);
  const int leader = first + offset;
  return leader < group_length - 1 ? leader : group_length - 1;
}

// First in-group key position of the window of i_hat.
NATTEN_HOST_DEVICE int get_window_start(int i_hat, int k, int s, int group_length, bool causal) {
  const int leader = get_stride_group_leader(i_hat, s, group_length, causal);
  if (causal) {
    const int start = leader - k + 1;
    return start > 0 ? start : 0;
  }
  int start = leader - get_window_left(k);
  start = start > 0 ? start : 0;
  return start < group_length - k ? start : group_length - k;
}

// One past the last in-group key position of the window of i_hat.
NATTEN_HOST_DEVICE int get_window_end(int i_hat, int start, int k, int group_length, bool causal) {
  if (causal) {
    return i_hat + 1 < group_length ? i_hat + 1 : group_length;
  }
  return start + k;
}

// The window of query coordinate i along one axis, in global key coordinates.
struct AxisWindow {
  int first;     // global coordinate of window slot 0: start * d + g
  int count;     // number of valid slots (end - start); slots count..k-1 are masked; k unless causal
  int rpb_base;  // relative-position-bias index of slot 0: start - i_hat + k - 1; slot t uses rpb_base + t
};

NATTEN_HOST_DEVICE AxisWindow get_axis_window(int i, int L, int k, int s, int d, bool causal) {
  const int g = get_dilation_group(i, d);
  const int i_hat = (i - g) / d;
  const int group_length = get_group_length(L, d, g);
  const int start = get_window_start(i_hat, k, s, group_length, causal);
  const int end = get_window_end(i_hat, start, k, group_length, causal);
  AxisWindow w;
  w.first = start * d + g;
  w.count = end - start;
  w.rpb_base = start - i_hat + k - 1;
  return w;
}

// True iff key coordinate j is a neighbor of query coordinate i along one axis.
NATTEN_HOST_DEVICE bool is_neighbor(int i, int j, int L, int k, int s, int d, bool causal) {
  if (get_dilation_group(j, d) != get_dilation_group(i, d)) {
    return false;
  }
  const AxisWindow w = get_axis_window(i, L, k, s, d, causal);
  const int t = (j - w.first) / d;
  return t >= 0 && t < w.count;
}

// Relative-position-bias index of the key j for the query i along one axis (j a neighbor of i).
NATTEN_HOST_DEVICE int get_rpb_index(int i, int j, int k, int d) { return (j - i) / d + (k - 1); }

// ---------------------------------------------------------------------------------------------------------
// Tile-level helpers for the fused kernels, derived from the per-axis functions above. A tile is a range of
// in-group positions [lo, hi) of one dilation group along one axis; a box of tiles is one tile per axis.
// Windows' starts and ends never decrease as i_hat grows, which is what makes each of these an interval.

// A half-open range of in-group positions.
struct Range {
  int lo;
  int hi;
};

// The union of the windows of the queries [lo, hi) (lo < hi). Consecutive windows overlap or touch (the
// leader moves by at most s <= k), so the union is exactly the range from the first start to the last end.
NATTEN_HOST_DEVICE Range get_window_union(int lo, int hi, int k, int s, int group_length, bool causal) {
  const int last_start = get_window_start(hi - 1, k, s, group_length, causal);
  Range r;
  r.lo = get_window_start(lo, k, s, group_length, causal);
  r.hi = get_window_end(hi - 1, last_start, k, group_length, causal);
  return r;
}

// The keys inside the window of every query of [lo, hi) (lo < hi): from the last start to the first end
// (empty when hi <= lo in the result).
NATTEN_HOST_DEVICE Range get_window_intersection(int lo, int hi, int k, int s, int group_length, bool causal) {
  const int first_start = get_window_start(lo, k, s, group_length, causal);
  Range r;
  r.lo = get_window_start(hi - 1, k, s, group_length, causal);
  r.hi = get_window_end(lo, first_start, k, group_length, causal);
  return r;
}

// The queries whose windows hold at least one key of [lo, hi) (lo < hi): those whose window ends after lo
// (a suffix of the group) and starts before hi (a prefix), found by bisection. Empty when hi <= lo in the
// result (strides can leave keys that no query sees).
NATTEN_HOST_DEVICE Range get_inverse_neighborhood(int lo, int hi, int k, int s, int group_length, bool causal) {
  int first = 0, last = group_length;
  while (first < last) {
    const int mid = (first + last) >> 1;
    const int start = get_window_start(mid, k, s, group_length, causal);
    if (get_window_end(mid, start, k, group_length, causal) > lo) {
      last = mid;
    } else {
      first = mid + 1;
    }
  }
  Range r;
  r.lo = first;
  first = 0;
  last = group_length;
  while (first < last) {
    const int mid = (first + last) >> 1;
    if (get_window_start(mid, k, s, group_length, causal) < hi) {
      first = mid + 1;
    } else {
      last = mid;
    }
  }
  r.hi = first;
  return r;
}

// Number of tiles of m positions along an axis of length L with dilation d: each dilation group is tiled
// on its own (groups g < L % d are one position longer than the others).
NATTEN_HOST_DEVICE int get_axis_tile_count(int L, int d, int m) {
  const int q = L / d, r = L % d;
  return r * ((q + m) / m) + (d - r) * ((q + m - 1) / m);
}

// Tile t of an axis (0 <= t < get_axis_tile_count): its dilation group and in-group range, clipped to the
// group's length. Tiles of group g come before those of group g + 1.
struct AxisTile {
  int group;
  int lo;
  int hi;
};

NATTEN_HOST_DEVICE AxisTile get_axis_tile(int t, int L, int d, int m) {
  AxisTile tile;
  if (d == 1) {
    tile.group = 0;
    tile.lo = t * m;
    tile.hi = tile.lo + m < L ? tile.lo + m : L;
    return tile;
  }
  const int q = L / d, r = L % d;
  const int long_tiles = (q + m) / m;       // tiles of a group of length q + 1
  const int short_tiles = (q + m - 1) / m;  // tiles of a group of length q
  int length, index;
  if (t < r * long_tiles) {
    tile.group = t / long_tiles;
    index = t - tile.group * long_tiles;
    length = q + 1;
  } else {
    const int u = t - r * long_tiles;
    tile.group = r + u / short_tiles;
    index = u - (tile.group - r) * short_tiles;
    length = q;
  }
  tile.lo = index * m;
  tile.hi = tile.lo + m < length ? tile.lo + m : length;
  return tile;
}

}  // namespace natten
