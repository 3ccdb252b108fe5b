/**
 * The TypeScript half of test/native_mask.test.ts, run in a child process (jest's vm context makes the
 * millions of index computations about a hundred times slower): evaluates every function of
 * src/core/na_mask.ts on every (L, k, s, d, causal) with L < 40 in native/test/na_mask_dump.cc's order and
 * writes the int32 stream to stdout; with `--describe N` it prints what value N is instead.
 */
import {core} from '../src/index';
import {forEachAxisConfig} from './problems';

const {getAxisTile, getAxisTileCount, getAxisWindow, getDilationGroup, getGroupLength, getInverseNeighborhood,
       getRpbIndex, getStrideGroupLeader, getWindowIntersection, getWindowLeft, getWindowRight, getWindowUnion,
       isNeighbor} = core;

const TILE_SIZES = [1, 2, 3, 5, 8, 16];

/** FNV-1a over the bytes of 32-bit values, as in na_mask_dump.cc. */
class Hash {
  h = 2166136261;
  add(v: number): void {
    const u = v >>> 0;
    for (let b = 0; b < 4; b++) {
      this.h ^= (u >>> (8 * b)) & 0xff;
      this.h = Math.imul(this.h, 16777619) >>> 0;
    }
  }
  value(): number {
    return this.h | 0;
  }
}

/**
 * Evaluates, in na_mask_dump.cc's order, every function on every configuration, handing each value to `put`
 * with a lazily built description (only built when a mismatch needs naming).
 */
export function forEachValue(put: (value: number, what: () => string) => void): number {
  let configs = 0;
  forEachAxisConfig(40, (L, k, s, d, causal) => {
    const where = () => `L=${L} k=${k} s=${s} d=${d} causal=${causal}`;
    put(getWindowLeft(k), () => `${where()}: get_window_left`);
    put(getWindowRight(k), () => `${where()}: get_window_right`);
    for (let i = 0; i < L; i++) {
      const w = getAxisWindow(i, L, k, s, d, causal);
      put(w.first, () => `${where()}: get_axis_window(${i}).first`);
      put(w.count, () => `${where()}: get_axis_window(${i}).count`);
      put(w.rpbBase, () => `${where()}: get_axis_window(${i}).rpb_base`);
    }
    if (L < 16) {
      for (let i = 0; i < L; i++) {
        for (let j = 0; j < L; j++) {
          const n = isNeighbor(i, j, L, k, s, d, causal);
          put(n ? 1 : 0, () => `${where()}: is_neighbor(${i}, ${j})`);
          put(n ? getRpbIndex(i, j, k, d) : 0, () => `${where()}: get_rpb_index(${i}, ${j})`);
        }
      }
    }
    for (let g = 0; g < d; g++) {
      const Lg = getGroupLength(L, d, g);
      put(Lg, () => `${where()}: get_group_length(g=${g})`);
      const hash = new Hash();
      for (let ih = 0; ih < Lg; ih++) {
        hash.add(getDilationGroup(ih * d + g, d));
        hash.add(getStrideGroupLeader(ih, s, Lg, causal));
      }
      for (const m of TILE_SIZES) {
        for (let lo = 0; lo < Lg; lo++) {
          const hi = Math.min(lo + m, Lg);
          const u = getWindowUnion(lo, hi, k, s, Lg, causal);
          const x = getWindowIntersection(lo, hi, k, s, Lg, causal);
          const v = getInverseNeighborhood(lo, hi, k, s, Lg, causal);
          hash.add(u.lo);
          hash.add(u.hi);
          hash.add(x.lo);
          hash.add(x.hi);
          hash.add(v.lo);
          hash.add(v.hi);
        }
      }
      put(hash.value(),
          () => `${where()}: hash of the leaders, unions, intersections and inverse neighborhoods of group ${g}`);
    }
    const tiles = new Hash();
    for (const m of TILE_SIZES) {
      const count = getAxisTileCount(L, d, m);
      tiles.add(count);
      for (let t = 0; t < count; t++) {
        const tile = getAxisTile(t, L, d, m);
        tiles.add(tile.group);
        tiles.add(tile.lo);
        tiles.add(tile.hi);
      }
    }
    put(tiles.value(), () => `${where()}: hash of get_axis_tile_count and get_axis_tile`);
    configs++;
  });
  return configs;
}

const at = process.argv.indexOf('--describe');
if (at >= 0) {
  const wanted = Number(process.argv[at + 1]);
  let i = 0;
  forEachValue((_, what) => {
    if (i++ === wanted) {
      process.stdout.write(what());
    }
  });
} else {
  const values: number[] = [];
  const configs = forEachValue(value => values.push(value | 0));
  process.stderr.write(`${configs} configurations\n`);
  process.stdout.write(new Uint8Array(Int32Array.from(values).buffer));
}
