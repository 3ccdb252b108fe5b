/**
 * The neighborhood index math in WGSL, generated from this one place for every WebGPU program. Each function
 * mirrors the function of the same name in src/core/na_mask.ts (same arguments, same formula); the tests run
 * them on the adapter against the TypeScript versions over every (L, k, s, d, causal) with L < 40.
 */

/** WGSL source of the index math: window left/right, dilation group, stride-group leader, windows, inverse. */
export function naMaskWgsl(): string {
  return `
fn getWindowLeft(k : i32) -> i32 {
  return k >> 1u;
}

fn getWindowRight(k : i32) -> i32 {
  return (k >> 1u) + (k & 1) - 1;
}

fn getDilationGroup(i : i32, d : i32) -> i32 {
  return i % d;
}

fn getGroupLength(L : i32, d : i32, g : i32) -> i32 {
  return (L - g + d - 1) / d;
}

fn getStrideGroupLeader(iHat : i32, s : i32, groupLength : i32, causal : bool) -> i32 {
  let first = (iHat / s) * s;
  let offset = select(s >> 1u, s - 1, causal);
  return min(first + offset, groupLength - 1);
}

fn getWindowStart(iHat : i32, k : i32, s : i32, groupLength : i32, causal : bool) -> i32 {
  let leader = getStrideGroupLeader(iHat, s, groupLength, causal);
  if (causal) {
    return max(leader - k + 1, 0);
  }
  let start = leader - getWindowLeft(k);
  return min(max(start, 0), groupLength - k);
}

fn getWindowEnd(iHat : i32, start : i32, k : i32, groupLength : i32, causal : bool) -> i32 {
  return select(start + k, min(iHat + 1, groupLength), causal);
}

struct AxisWindow {
  first : i32,
  count : i32,
  rpbBase : i32,
};

fn getAxisWindow(i : i32, L : i32, k : i32, s : i32, d : i32, causal : bool) -> AxisWindow {
  let g = getDilationGroup(i, d);
  let iHat = (i - g) / d;
  let groupLength = getGroupLength(L, d, g);
  let start = getWindowStart(iHat, k, s, groupLength, causal);
  let end = getWindowEnd(iHat, start, k, groupLength, causal);
  return AxisWindow(start * d + g, end - start, start - iHat + k - 1);
}

fn isNeighbor(i : i32, j : i32, L : i32, k : i32, s : i32, d : i32, causal : bool) -> bool {
  if (getDilationGroup(j, d) != getDilationGroup(i, d)) {
    return false;
  }
  let w = getAxisWindow(i, L, k, s, d, causal);
  let t = (j - w.first) / d;
  return t >= 0 && t < w.count;
}

fn getRpbIndex(i : i32, j : i32, k : i32, d : i32) -> i32 {
  return (j - i) / d + (k - 1);
}

fn getInverseWindowStart(jHat : i32, k : i32, s : i32, groupLength : i32, causal : bool) -> i32 {
  var lo = 0;
  var hi = groupLength;
  loop {
    if (lo >= hi) { break; }
    let mid = (lo + hi) >> 1u;
    let start = getWindowStart(mid, k, s, groupLength, causal);
    if (getWindowEnd(mid, start, k, groupLength, causal) > jHat) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

fn getInverseWindowEnd(jHat : i32, k : i32, s : i32, groupLength : i32, causal : bool) -> i32 {
  var lo = 0;
  var hi = groupLength;
  loop {
    if (lo >= hi) { break; }
    let mid = (lo + hi) >> 1u;
    if (getWindowStart(mid, k, s, groupLength, causal) > jHat) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

struct AxisInverseWindow {
  first : i32,
  count : i32,
};

fn getAxisInverseWindow(j : i32, L : i32, k : i32, s : i32, d : i32, causal : bool) -> AxisInverseWindow {
  let g = getDilationGroup(j, d);
  let jHat = (j - g) / d;
  let groupLength = getGroupLength(L, d, g);
  let start = getInverseWindowStart(jHat, k, s, groupLength, causal);
  let end = getInverseWindowEnd(jHat, k, s, groupLength, causal);
  return AxisInverseWindow(start * d + g, end - start);
}
`;
}
