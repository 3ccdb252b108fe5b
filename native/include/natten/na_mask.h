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
NATTEN_HOST_DEVICE int get_group_length(int L, int d, int g) { return (L - g + d - 1) / d; }

// Stride-group leader: the in-group position whose window the query i_hat shares.
NATTEN_HOST_DEVICE int get_stride_group_leader(int i_hat, int s, int group_length, bool causal) {
  const int first = (i_hat / s) * s;
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

}  // namespace natten
