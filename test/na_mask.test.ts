/** The index math of src/core against the spec: worked examples and every (L, k, s, d, causal), L < 40. */
import {core} from '../src/index';
import {specSlot, specWindow} from './reference';

const {getAxisWindow, getAxisWindowTable, isNeighbor, getRpbIndex, getWindowLeft, getWindowRight} = core;

function neighbors(i: number, L: number, k: number, s: number, d: number, causal: boolean): number[] {
  const w = getAxisWindow(i, L, k, s, d, causal);
  return Array.from({length: w.count}, (_, t) => w.first + t * d);
}

/** Every valid single-axis configuration with 2 <= L < maxL: kernel 2..L, dilation with k*d <= L, stride 1..k. */
function forEachAxisConfig(maxL: number, body: (L: number, k: number, s: number, d: number, causal: boolean) => void):
    void {
  for (let L = 2; L < maxL; L++) {
    for (let k = 2; k <= L; k++) {
      for (let d = 1; k * d <= L; d++) {
        for (let s = 1; s <= k; s++) {
          for (const causal of [false, true]) {
            body(L, k, s, d, causal);
          }
        }
      }
    }
  }
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
