/**
 * Neighborhood index math, written once for TypeScript.
 *
 * Everything is per spatial axis; a key is a neighbor of a query iff it is a neighbor along every axis.
 * Vocabulary follows NATTEN's reference mask: window left/right, dilation group, stride-group leader.
 * The WGSL snippet and the CUDA header mirror these functions one for one and are tested against them.
 *
 * Notation for one axis: `L` length, `k` kernel size, `s` stride, `d` dilation, `i` query coordinate,
 * `j` key coordinate. Coordinates written with a hat (`iHat`) are positions inside a dilation group.
 */

/** Number of window slots left of the query (even kernels get one more on the left). */
export function getWindowLeft(k: number): number {
  return k >> 1;
}

/** Number of window slots right of the query. */
export function getWindowRight(k: number): number {
  return (k >> 1) + (k & 1) - 1;
}

/** Dilation group of a coordinate. */
export function getDilationGroup(i: number, d: number): number {
  return i % d;
}

/** Length of dilation group `g` of an axis of length `L` (L need not be divisible by d). */
export function getGroupLength(L: number, d: number, g: number): number {
  return Math.ceil((L - g) / d);
}

/** Stride-group leader: the in-group position whose window the query `iHat` shares. */
export function getStrideGroupLeader(iHat: number, s: number, groupLength: number, causal: boolean):
    number {
  const first = Math.floor(iHat / s) * s;
  const offset = causal ? s - 1 : s >> 1;
  return Math.min(first + offset, groupLength - 1);
}

/** First in-group key position of the window of `iHat`. */
export function getWindowStart(iHat: number, k: number, s: number, groupLength: number, causal: boolean):
    number {
  const leader = getStrideGroupLeader(iHat, s, groupLength, causal);
  if (causal) {
    return Math.max(leader - k + 1, 0);
  }
  const start = leader - getWindowLeft(k);
  return Math.min(Math.max(start, 0), groupLength - k);
}

/** One past the last in-group key position of the window of `iHat`. */
export function getWindowEnd(iHat: number, start: number, k: number, groupLength: number, causal: boolean):
    number {
  return causal ? Math.min(iHat + 1, groupLength) : start + k;
}

/** The window of query coordinate `i` along one axis, in global key coordinates. */
export interface AxisWindow {
  /** Global coordinate of window slot 0: `start * d + g`. */
  first: number;
  /** Number of valid slots (`end - start`); slots `count..k-1` are masked. Equals k unless causal. */
  count: number;
  /** Relative-position-bias index of slot 0: `start - iHat + k - 1`; slot t uses `rpbBase + t`. */
  rpbBase: number;
}

export function getAxisWindow(i: number, L: number, k: number, s: number, d: number, causal: boolean):
    AxisWindow {
  const g = getDilationGroup(i, d);
  const iHat = (i - g) / d;
  const groupLength = getGroupLength(L, d, g);
  const start = getWindowStart(iHat, k, s, groupLength, causal);
  const end = getWindowEnd(iHat, start, k, groupLength, causal);
  return {first: start * d + g, count: end - start, rpbBase: start - iHat + k - 1};
}

/** True iff key coordinate `j` is a neighbor of query coordinate `i` along one axis. */
export function isNeighbor(i: number, j: number, L: number, k: number, s: number, d: number,
                           causal: boolean): boolean {
  if (getDilationGroup(j, d) !== getDilationGroup(i, d)) {
    return false;
  }
  const w = getAxisWindow(i, L, k, s, d, causal);
  const t = (j - w.first) / d;
  return t >= 0 && t < w.count;
}

/** Relative-position-bias index of the key `j` for the query `i` along one axis. */
export function getRpbIndex(i: number, j: number, k: number, d: number): number {
  return (j - i) / d + (k - 1);
}

/**
 * The windows of every coordinate of one axis, packed for kernels: `first[i]`, `count[i]`, `rpbBase[i]`.
 */
export interface AxisWindowTable {
  first: Int32Array;
  count: Int32Array;
  rpbBase: Int32Array;
}

export function getAxisWindowTable(L: number, k: number, s: number, d: number, causal: boolean):
    AxisWindowTable {
  const first = new Int32Array(L);
  const count = new Int32Array(L);
  const rpbBase = new Int32Array(L);
  for (let i = 0; i < L; i++) {
    const w = getAxisWindow(i, L, k, s, d, causal);
    first[i] = w.first;
    count[i] = w.count;
    rpbBase[i] = w.rpbBase;
  }
  return {first, count, rpbBase};
}

// ---------------------------------------------------------------------------------------------------------
// Tile-level helpers (the fused native kernels use their C++ twins): a tile is a range of in-group positions
// [lo, hi) of one dilation group along one axis. Windows' starts and ends never decrease as iHat grows,
// which is what makes each of these an interval.

/** A half-open range of in-group positions. */
export interface Range {
  lo: number;
  hi: number;
}

/**
 * The union of the windows of the queries [lo, hi) (lo < hi). Consecutive windows overlap or touch (the
 * leader moves by at most s <= k), so the union is exactly the range from the first start to the last end.
 */
export function getWindowUnion(lo: number, hi: number, k: number, s: number, groupLength: number,
                               causal: boolean): Range {
  const lastStart = getWindowStart(hi - 1, k, s, groupLength, causal);
  return {lo: getWindowStart(lo, k, s, groupLength, causal),
          hi: getWindowEnd(hi - 1, lastStart, k, groupLength, causal)};
}

/** The keys inside the window of every query of [lo, hi) (lo < hi); empty when `hi <= lo` in the result. */
export function getWindowIntersection(lo: number, hi: number, k: number, s: number, groupLength: number,
                                      causal: boolean): Range {
  const firstStart = getWindowStart(lo, k, s, groupLength, causal);
  return {lo: getWindowStart(hi - 1, k, s, groupLength, causal),
          hi: getWindowEnd(lo, firstStart, k, groupLength, causal)};
}

/**
 * The queries whose windows hold at least one key of [lo, hi) (lo < hi): those whose window ends after lo (a
 * suffix of the group) and starts before hi (a prefix), found by bisection. Empty when `hi <= lo` in the
 * result (strides can leave keys that no query sees).
 */
export function getInverseNeighborhood(lo: number, hi: number, k: number, s: number, groupLength: number,
                                       causal: boolean): Range {
  let first = 0, last = groupLength;
  while (first < last) {
    const mid = (first + last) >> 1;
    const start = getWindowStart(mid, k, s, groupLength, causal);
    if (getWindowEnd(mid, start, k, groupLength, causal) > lo) {
      last = mid;
    } else {
      first = mid + 1;
    }
  }
  const rangeLo = first;
  first = 0;
  last = groupLength;
  while (first < last) {
    const mid = (first + last) >> 1;
    if (getWindowStart(mid, k, s, groupLength, causal) < hi) {
      first = mid + 1;
    } else {
      last = mid;
    }
  }
  return {lo: rangeLo, hi: first};
}

/**
 * Number of tiles of `m` positions along an axis of length `L` with dilation `d`: each dilation group is
 * tiled on its own (groups g < L % d are one position longer than the others).
 */
export function getAxisTileCount(L: number, d: number, m: number): number {
  const q = Math.floor(L / d), r = L % d;
  return r * Math.floor((q + m) / m) + (d - r) * Math.floor((q + m - 1) / m);
}

/** Tile `t` of an axis: its dilation group and in-group range (clipped to the group's length). */
export interface AxisTile {
  group: number;
  lo: number;
  hi: number;
}

export function getAxisTile(t: number, L: number, d: number, m: number): AxisTile {
  const q = Math.floor(L / d), r = L % d;
  const longTiles = Math.floor((q + m) / m);
  const shortTiles = Math.floor((q + m - 1) / m);
  let group: number, index: number, length: number;
  if (t < r * longTiles) {
    group = Math.floor(t / longTiles);
    index = t - group * longTiles;
    length = q + 1;
  } else {
    const u = t - r * longTiles;
    group = r + Math.floor(u / shortTiles);
    index = u - (group - r) * shortTiles;
    length = q;
  }
  const lo = index * m;
  return {group, lo, hi: Math.min(lo + m, length)};
}

/**
 * The inverse neighborhood along one axis: the queries whose windows contain a key. Window starts and ends
 * never decrease as the query moves forward inside its dilation group, so the queries that see the key `jHat`
 * form one contiguous run of in-group positions; both ends are found by binary search over the window
 * functions above, so they can never disagree with them.
 */

/** First in-group query position whose window contains the in-group key position `jHat`. */
export function getInverseWindowStart(jHat: number, k: number, s: number, groupLength: number, causal: boolean):
    number {
  let lo = 0, hi = groupLength;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const start = getWindowStart(mid, k, s, groupLength, causal);
    if (getWindowEnd(mid, start, k, groupLength, causal) > jHat) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

/** One past the last in-group query position whose window contains the in-group key position `jHat`. */
export function getInverseWindowEnd(jHat: number, k: number, s: number, groupLength: number, causal: boolean):
    number {
  let lo = 0, hi = groupLength;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (getWindowStart(mid, k, s, groupLength, causal) > jHat) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

/** The queries that see key coordinate `j` along one axis: `first + t * d` for `t < count`. */
export function getAxisInverseWindow(j: number, L: number, k: number, s: number, d: number, causal: boolean):
    {first: number, count: number} {
  const g = getDilationGroup(j, d);
  const jHat = (j - g) / d;
  const groupLength = getGroupLength(L, d, g);
  const start = getInverseWindowStart(jHat, k, s, groupLength, causal);
  const end = getInverseWindowEnd(jHat, k, s, groupLength, causal);
  return {first: start * d + g, count: end - start};
}
