/** The index math of src/core against the spec: worked examples and every (L, k, s, d, causal), L < 40. */
import {core} from '../src/index';
import {forEachAxisConfig} from './problems';
import {specSlot, specWindow} from './reference';

const {getAxisTile, getAxisTileCount, getAxisWindow, getAxisWindowTable, getInverseNeighborhood, getWindowIntersection,
       getWindowUnion, isNeighbor, getRpbIndex, getWindowLeft, getWindowRight} = core;

function neighbors(i: number, L: number, k: number, s: number, d: number, causal: boolean): number[] {
  const w = getAxisWindow(i, L, k, s, d, causal);
  return Array.from({length: w.count}, (_, t) => w.first + t * d);
}

describe('neighborhood index math', () => {
  it('reproduces the worked example of the spec (L=10, k=3, d=3)', () => {
    expect(neighbors(0, 10, 3, 1, 3, false)).toEqual([0, 3, 6]);
    expect(neighbors(6, 10, 3, 1, 3, false)).toEqual([3, 6, 9]);
    expect(neighbors(9, 10, 3, 1, 3, false)).toEqual([3, 6, 9]);
    expect(neighbors(7, 10, 3, 1, 3, false)).toEqual([1, 4, 7]);
    expect(neighbors(6, 10, 3, 1, 3, true)).toEqual([0, 3, 6]);
  });

  it('splits even kernels with one more slot on the left', () => {
    expect([getWindowLeft(4), getWindowRight(4)]).toEqual([2, 1]);
    expect([getWindowLeft(5), getWindowRight(5)]).toEqual([2, 2]);
    expect(neighbors(5, 10, 4, 1, 1, false)).toEqual([3, 4, 5, 6]);
  });

  it('matches the spec on every (L, k, s, d, causal) with L < 40', () => {
    let checked = 0;
    forEachAxisConfig(40, (L, k, s, d, causal) => {
      const table = getAxisWindowTable(L, k, s, d, causal);
      for (let i = 0; i < L; i++) {
        const w = specWindow(i, L, k, s, d, causal);
        const first = w.start * d + w.g, count = w.end - w.start, rpbBase = w.start - w.ih + k - 1;
        if (table.first[i] !== first || table.count[i] !== count || table.rpbBase[i] !== rpbBase) {
          throw new Error(`L=${L} k=${k} s=${s} d=${d} causal=${causal} i=${i}: got (${table.first[i]}, ${
              table.count[i]}, ${table.rpbBase[i]}), spec (${first}, ${count}, ${rpbBase})`);
        }
        checked++;
      }
    });
    expect(checked).toBeGreaterThan(100000);
  });

  it('agrees with the spec neighbor relation pair by pair, and keeps every rpb index in [0, 2k-2] (L < 16)', () => {
    let pairs = 0;
    forEachAxisConfig(16, (L, k, s, d, causal) => {
      for (let i = 0; i < L; i++) {
        const at = `L=${L} k=${k} s=${s} d=${d} causal=${causal} i=${i}`;
        let count = 0;
        for (let j = 0; j < L; j++) {
          const spec = specSlot(i, j, L, k, s, d, causal) >= 0;
          if (isNeighbor(i, j, L, k, s, d, causal) !== spec) {
            throw new Error(`${at} j=${j}: isNeighbor disagrees with the spec`);
          }
          const r = getRpbIndex(i, j, k, d);
          if (spec && !(r >= 0 && r <= 2 * k - 2 && Number.isInteger(r))) {
            throw new Error(`${at} j=${j}: rpb index ${r} outside [0, ${2 * k - 2}]`);
          }
          count += spec ? 1 : 0;
        }
        // Non-causal windows always hold k keys; causal ones at most k and always the query itself.
        const ok = causal ? count >= 1 && count <= k && isNeighbor(i, i, L, k, s, d, causal) : count === k;
        if (!ok) {
          throw new Error(`${at}: ${count} neighbors`);
        }
        pairs += L;
      }
    });
    expect(pairs).toBeGreaterThan(50000);
  });
});

/** In-group window [start, end) of in-group query position ih of group g (from the spec). */
function groupWindow(ih: number, g: number, L: number, k: number, s: number, d: number, causal: boolean) {
  const w = specWindow(ih * d + g, L, k, s, d, causal);
  return {lo: w.start, hi: w.end};
}

const TILE_SIZES = [1, 2, 3, 5, 8];

describe('tile-level index math (union, intersection, inverse neighborhood, dilation-group tiles)', () => {
  it('union and intersection of the windows of every tile [lo, lo + m), against the spec windows (L < 24)', () => {
    let checked = 0;
    forEachAxisConfig(24, (L, k, s, d, causal) => {
      for (let g = 0; g < d; g++) {
        const Lg = Math.ceil((L - g) / d);
        const windows = Array.from({length: Lg}, (_, ih) => groupWindow(ih, g, L, k, s, d, causal));
        const covered = new Int32Array(Lg);
        for (const m of TILE_SIZES) {
          for (let lo = 0; lo < Lg; lo++) {
            const hi = Math.min(lo + m, Lg);
            covered.fill(0);
            let iLo = -Infinity, iHi = Infinity;
            for (let ih = lo; ih < hi; ih++) {
              for (let j = windows[ih].lo; j < windows[ih].hi; j++) {
                covered[j] = 1;
              }
              iLo = Math.max(iLo, windows[ih].lo);
              iHi = Math.min(iHi, windows[ih].hi);
            }
            const u = getWindowUnion(lo, hi, k, s, Lg, causal);
            const x = getWindowIntersection(lo, hi, k, s, Lg, causal);
            const at = `L=${L} k=${k} s=${s} d=${d} causal=${causal} g=${g} tile [${lo}, ${hi})`;
            // The union is an interval: exactly the keys some query of the tile sees.
            for (let j = 0; j < Lg; j++) {
              if ((covered[j] === 1) !== (j >= u.lo && j < u.hi)) {
                throw new Error(`${at}: union [${u.lo}, ${u.hi}) disagrees with the windows at key ${j}`);
              }
            }
            if (Math.max(iHi - iLo, 0) !== Math.max(x.hi - x.lo, 0) || (iHi > iLo && (x.lo !== iLo || x.hi !== iHi))) {
              throw new Error(`${at}: intersection [${x.lo}, ${x.hi}), spec [${iLo}, ${iHi})`);
            }
            checked++;
          }
        }
      }
    });
    expect(checked).toBeGreaterThan(100000);
  });

  it('inverse neighborhood of every key range [lo, lo + m): exactly the queries whose windows meet it (L < 24)', () => {
    let checked = 0;
    forEachAxisConfig(24, (L, k, s, d, causal) => {
      for (let g = 0; g < d; g++) {
        const Lg = Math.ceil((L - g) / d);
        const windows = Array.from({length: Lg}, (_, ih) => groupWindow(ih, g, L, k, s, d, causal));
        for (const m of TILE_SIZES) {
          for (let lo = 0; lo < Lg; lo++) {
            const hi = Math.min(lo + m, Lg);
            const r = getInverseNeighborhood(lo, hi, k, s, Lg, causal);
            for (let ih = 0; ih < Lg; ih++) {
              const meets = windows[ih].lo < hi && windows[ih].hi > lo;
              if (meets !== (ih >= r.lo && ih < r.hi)) {
                throw new Error(`L=${L} k=${k} s=${s} d=${d} causal=${causal} g=${g} keys [${lo}, ${hi}): inverse [${
                    r.lo}, ${r.hi}) ${meets ? 'misses' : 'wrongly holds'} query ${ih}`);
              }
            }
            checked++;
          }
        }
      }
    });
    expect(checked).toBeGreaterThan(100000);
  });

  it('dilation-group tiles cover every group position once, in group order', () => {
    for (let L = 1; L < 40; L++) {
      for (let d = 1; d <= L; d++) {
        for (const m of TILE_SIZES) {
          const count = getAxisTileCount(L, d, m);
          const next = Array(d).fill(0);
          let lastGroup = 0;
          for (let t = 0; t < count; t++) {
            const tile = getAxisTile(t, L, d, m);
            const Lg = Math.ceil((L - tile.group) / d);
            const ok = tile.group >= lastGroup && tile.lo === next[tile.group] && tile.hi > tile.lo &&
                tile.hi - tile.lo <= m && tile.hi <= Lg;
            if (!ok) {
              throw new Error(`L=${L} d=${d} m=${m} tile ${t}: ${JSON.stringify(tile)}`);
            }
            lastGroup = tile.group;
            next[tile.group] = tile.hi;
          }
          next.forEach((n, g) => expect(n).toBe(Math.ceil((L - g) / d)));
        }
      }
    }
  });
});
