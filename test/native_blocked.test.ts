/**
 * The native fused backward's and forward's blocked kernels (native/src/cpu/kernels.h, na_backward_blocked and
 * na_forward_blocked): the problems they take (last-axis dilation 1 and kernel <= 16, no extra tokens, head dims
 * multiples of 8; the forward: headDim == headDimV, at most four of the row kernels' vectors) against the float64
 * reference and against the per-row kernels, with the avx512zmm and AVX-512 (where the CPU has it), AVX2 and
 * portable row kernels, tiles of one query line and of two (the default: setTileLines); bit-identical results on any number
 * of threads; non-finite inputs (which they leave to the per-row kernels); the switches. Every other suite runs them
 * too wherever its problems qualify (the `cpu` backend through test/harness.ts).
 */
import {geometry, naBackwardNative, naForwardNative, nattenCpu} from '../src/kernels/cpu/na_native';
import {problem} from './problems';
import {refBackward, refForward, RefProblem} from './reference';
import {gradInputs, qkvInfoOf} from './kernel_inputs';
import {bytesOf, expectClose, farKeyColumn} from './util';

const addon = nattenCpu();
type Isa = 'avx512zmm' | 'avx512' | 'avx2' | 'portable';
const ISAS: Isa[] = addon == null ? ['portable'] :
    [...(addon.cpuHasAvx512() ? ['avx512zmm' as const, 'avx512' as const] : []),
     ...(addon.cpuHasAvx2() ? ['avx2' as const] : []), 'portable'];
const LINES = [2, 1] as const;

const infoOf = qkvInfoOf;

const inputs = gradInputs;
type X = ReturnType<typeof inputs>;

/**
 * The fused forward and backward, the backward's kernel picked by `blocked` (the forward's by `blockedForward`),
 * their tiles by `lines`.
 */
function run(p: RefProblem, x: X, isa: Isa, blocked: boolean, threads = 0, lines: 1 | 2 = 2,
             blockedForward = true) {
  expect(addon!.setIsa(isa)).toBe(true);
  addon!.setBlockedBackward(blocked);
  addon!.setBlockedForward(blockedForward);
  addon!.setNumThreads(threads);
  addon!.setTileLines(lines);
  try {
    const info = infoOf(p);
    const f = naForwardNative(info, x.q, x.k, x.v, x.rpb ?? null, null, null)!;
    const b = naBackwardNative(info, x.q, x.k, x.v, f.output, f.lse, x.dOut, x.dLse, x.rpb ?? null, null, null)!;
    return {f, b};
  } finally {
    addon!.setIsa('auto');
    addon!.setBlockedBackward(true);
    addon!.setBlockedForward(true);
    addon!.setNumThreads(0);
    addon!.setTileLines(2);
  }
}

/** Whether the blocked forward takes p (its head dims in the active row kernels' registers). */
function forwardBlocked(p: RefProblem, isa: Isa): boolean {
  expect(addon!.setIsa(isa)).toBe(true);
  try {
    return addon!.blockedForward(geometry(infoOf(p)));
  } finally {
    addon!.setIsa('auto');
  }
}

// Each takes the blocked kernel (checked): awkward lengths, even kernels, kernel = length, every causal
// combination, strides, dilated leading axes, GQA/MQA, rpb, headDim != headDimV, 1/2/3-D, kernels past 8
// (two vectors of key lanes), head dims in registers (8..32 equal, 64 and 128; avx512zmm: 16, 32, 48, 64) and not
// (40, 48, 64/32, 16/8, 8/24; avx512zmm also 8, 24 and 128).
const CASES: Array<[string, RefProblem]> = [
  ['2-D 9x11, kernel 3x7, rpb, dim 32',
   problem({spatial: [9, 11], kernelSize: [3, 7], hasRpb: true, headDim: 32})],
  ['2-D 9x11, kernel 4x6 (even), causal both, GQA 4:2, dim 16, batch 2',
   problem({spatial: [9, 11], kernelSize: [4, 6], isCausal: [true, true], heads: 4, headsKv: 2, headDim: 16,
            batch: 2})],
  ['2-D 10x13, kernel 5x5, causal axis 1, stride 2x3, dilation 2x1, rpb, dim 8',
   problem({spatial: [10, 13], kernelSize: [5, 5], isCausal: [false, true], stride: [2, 3], dilation: [2, 1],
            hasRpb: true, headDim: 8})],
  ['2-D 7x9, kernel 7x9 (= lengths), causal axis 0, MQA 3:1, rpb, dim 24',
   problem({spatial: [7, 9], kernelSize: [7, 9], isCausal: [true, false], heads: 3, headsKv: 1, headDim: 24,
            hasRpb: true})],
  ['2-D 13x12, kernel 3x5, dilation 3x1 (line pairs y, y + 3; line 12 alone), causal axis 0, rpb, dim 32',
   problem({spatial: [13, 12], kernelSize: [3, 5], dilation: [3, 1], isCausal: [true, false], hasRpb: true,
            headDim: 32})],
  ['1-D 37, kernel 12 (two key vectors), stride 4, rpb, dim 40 (not in registers)',
   problem({spatial: [37], kernelSize: [12], stride: [4], hasRpb: true, headDim: 40})],
  ['1-D 50, kernel 16, causal, dims 16/8',
   problem({spatial: [50], kernelSize: [16], isCausal: [true], headDim: 16, headDimV: 8})],
  ['1-D 23, kernel 2, stride 2, dims 8/24, GQA 4:1',
   problem({spatial: [23], kernelSize: [2], stride: [2], headDim: 8, headDimV: 24, heads: 4, headsKv: 1})],
  ['3-D 5x6x9, kernel 2x3x5, dilation 2x2x1, causal axis 2, rpb, dim 16',
   problem({spatial: [5, 6, 9], kernelSize: [2, 3, 5], dilation: [2, 2, 1], isCausal: [false, false, true],
            hasRpb: true, headDim: 16})],
  ['3-D 4x7x10, kernel 3x3x9, stride 1x2x4, causal 1x0x1, GQA 2:1, dim 32',
   problem({spatial: [4, 7, 10], kernelSize: [3, 3, 9], stride: [1, 2, 4], isCausal: [true, false, true], heads: 2,
            headsKv: 1, headDim: 32})],
  ['2-D 8x10, kernel 3x5, causal axis 1, rpb, dim 48 (avx512zmm: three 512-bit rows in registers)',
   problem({spatial: [8, 10], kernelSize: [3, 5], isCausal: [false, true], hasRpb: true, headDim: 48})],
  ['1-D 30, kernel 11 (two key vectors), GQA 2:1, dim 64 (in registers: eight 8-float rows, avx512zmm four 16-float)',
   problem({spatial: [30], kernelSize: [11], heads: 2, headsKv: 1, headDim: 64})],
  ['2-D 9x13, kernel 5x11 (two key vectors), causal axis 0, GQA 4:2, rpb, dim 64 (in registers), batch 2',
   problem({spatial: [9, 13], kernelSize: [5, 11], isCausal: [true, false], heads: 4, headsKv: 2, hasRpb: true,
            headDim: 64, batch: 2})],
  ['2-D 8x9, kernel 3x3, dims 64/32 (not in registers: headDim != headDimV)',
   problem({spatial: [8, 9], kernelSize: [3, 3], headDim: 64, headDimV: 32})],
  ['2-D 6x11, kernel 3x9 (two key vectors), causal axis 1, rpb, dim 128 (in registers: sixteen 8-float rows)',
   problem({spatial: [6, 11], kernelSize: [3, 9], isCausal: [false, true], hasRpb: true, headDim: 128})],
];

describe('native blocked backward against the float64 reference', () => {
  for (const [title, p] of CASES) {
    const x = inputs(p, title.length);
    let refs: {ref: ReturnType<typeof refForward>, g: ReturnType<typeof refBackward>} | undefined;
    for (const isa of ISAS) {
      for (const lines of LINES) {
        it(`${isa}, ${lines}-line tiles: ${title}`, () => {
          expect(addon!.blockedBackward(geometry(infoOf(p)))).toBe(true);
          const {f, b} = run(p, x, isa, true, 0, lines);
          refs ??= {ref: refForward(p, x), g: refBackward(p, x, x.dOut, x.dLse)};
          const {ref, g} = refs;
          expectClose(f.output, ref.out, 2e-5, 'output');
          expectClose(f.lse, ref.lse, 2e-5, 'lse');
          expectClose(b.dQuery, g.dq, 2e-5, 'dq');
          expectClose(b.dKey, g.dk, 2e-5, 'dk');
          expectClose(b.dValue, g.dv, 2e-5, 'dv');
          if (p.hasRpb) {
            expectClose(b.dRpb!, g.drpb!, 2e-5, 'drpb');
          }
        });
      }
    }
  }
});

describe('native blocked backward against the per-row backward', () => {
  it('the 2d benchmark problem (56x56, 4 heads, dim 32, kernel 7x7), the same at dim 64 on 24x28, and a 3-D one ' +
     'with rpb, every ISA', () => {
    const problems = [
      problem({spatial: [56, 56], kernelSize: [7, 7], heads: 4, headDim: 32}),
      problem({spatial: [24, 28], kernelSize: [7, 7], heads: 4, headDim: 64}),
      problem({spatial: [8, 16, 16], kernelSize: [3, 7, 7], heads: 4, headsKv: 2, headDim: 32, hasRpb: true}),
    ];
    for (const p of problems) {
      const x = inputs(p, 3);
      for (const isa of ISAS) {
        const rows = run(p, x, isa, false).b;
        for (const lines of LINES) {
          const blocked = run(p, x, isa, true, 0, lines).b;
          for (const name of ['dQuery', 'dKey', 'dValue', 'dRpb'] as const) {
            if (rows[name] != null) {
              let scale = 1;
              for (const v of rows[name]!) scale = Math.max(scale, Math.abs(v));
              expectClose(blocked[name]!, rows[name]!, 2e-5 * scale, `${isa} ${lines}-line ${name}`);
            }
          }
        }
      }
    }
  });
});

describe('native blocked backward: bit-identical on any number of threads', () => {
  // Several chunks per (batch, kv head): halos, rpb partials summed in a fixed order.
  const p = problem({spatial: [36, 40], kernelSize: [5, 7], heads: 2, headsKv: 1, headDim: 24, hasRpb: true,
                     isCausal: [true, false]});
  const x = inputs(p, 21);
  for (const isa of ISAS) {
    for (const lines of LINES) {
      it(`${isa}, ${lines}-line tiles: 1, 2, 3 and 8 threads give the same bits`, () => {
        expect(addon!.blockedBackward(geometry(infoOf(p)))).toBe(true);
        const runs = [1, 2, 3, 8].map(n => run(p, x, isa, true, n, lines).b);
        for (const r of runs.slice(1)) {
          for (const name of ['dQuery', 'dKey', 'dValue', 'dRpb'] as const) {
            expect(bytesOf(r[name]!).equals(bytesOf(runs[0][name]!))).toBe(true);
          }
        }
      });
    }
  }
});

describe('native blocked backward: where it does not run', () => {
  it('takes only what it handles: no extra tokens, last-axis dilation 1 and kernel <= 16, dims of 8s, on', () => {
    const takes = (o: Partial<RefProblem>) =>
      addon!.blockedBackward(geometry(infoOf(problem({spatial: [12, 40], kernelSize: [3, 5], headDim: 8, ...o}))));
    expect(takes({})).toBe(true);
    expect(takes({nExtra: 1})).toBe(false);
    expect(takes({dilation: [1, 2]})).toBe(false);
    expect(takes({dilation: [2, 1]})).toBe(true);
    expect(takes({kernelSize: [3, 17]})).toBe(false);
    expect(takes({kernelSize: [3, 16]})).toBe(true);
    expect(takes({headDim: 12})).toBe(false);
    expect(takes({headDim: 8, headDimV: 4})).toBe(false);
    addon!.setBlockedBackward(false);
    try {
      expect(takes({})).toBe(false);
    } finally {
      addon!.setBlockedBackward(true);
    }
    expect(() => addon!.setBlockedBackward(1 as unknown as boolean)).toThrow(/setBlockedBackward: expected a boolean/);
    expect(() => addon!.setTileLines(3 as 2)).toThrow(/setTileLines: expected 1 or 2/);
  });

  it('Inf or NaN in an input: the per-row kernel runs, so masked pairs still contribute nothing', () => {
    // A NaN key token poisons the gradients of the queries that see it and of the keys they see, no others
    // (the blocked kernel would multiply it by the exact zeros of masked lanes).
    const p = problem({spatial: [6, 20], kernelSize: [3, 5], headDim: 8});
    const x = inputs(p, 9);
    const D = p.headDim, heads = p.heads;
    const token = 2 * 20 + 10;  // row 2, column 10
    for (let h = 0; h < heads; ++h) x.k[(token * heads + h) * D] = NaN;
    for (const isa of ISAS) {
      const {f, b} = run(p, x, isa, true);
      const rows = run(p, x, isa, false);
      const same = (a: Float32Array, e: Float32Array) => {
        expect(a.length).toBe(e.length);
        const nan = (v: Float32Array) => Array.from(v, (y, i) => (Number.isNaN(y) ? i : -1)).filter(i => i >= 0);
        expect(nan(a)).toEqual(nan(e));
        expect(nan(e).length).toBeGreaterThan(0);
        expectClose(a.map(y => (Number.isNaN(y) ? 0 : y)), e.map(y => (Number.isNaN(y) ? 0 : y)), 1e-5, 'finite part');
      };
      same(f.output, rows.f.output);
      same(b.dQuery, rows.b.dQuery);
      same(b.dKey, rows.b.dKey);
      same(b.dValue, rows.b.dValue);
      // Query (row 0, column 0) never sees the NaN key: its gradient stays finite.
      expect(Number.isFinite(b.dQuery[0])).toBe(true);
    }
  });
});

describe('native blocked forward', () => {
  // The CASES it takes, per ISA (headDim == headDimV within four of the ISA's vectors): against the reference
  // above (each case's forward runs there), and here which ones it takes and the per-row forward beside it.
  it('takes the CASES with equal head dims in registers, per ISA (those it skips run the per-row forward)', () => {
    for (const isa of ISAS) {
      const rw = isa === 'avx512zmm' ? 16 : 8;
      let taken = 0;
      for (const [title, p] of CASES) {
        const dv = p.headDimV ?? p.headDim;
        const expected = dv === p.headDim && p.headDim % rw === 0 && p.headDim <= 4 * rw;
        expect([title, isa, forwardBlocked(p, isa)]).toEqual([title, isa, expected]);
        taken += expected ? 1 : 0;
      }
      expect(taken).toBeGreaterThanOrEqual(6);
    }
  });

  it('matches the per-row forward on the 2d benchmark problem and a 3-D one with rpb and GQA, every ISA', () => {
    const problems = [
      problem({spatial: [56, 56], kernelSize: [7, 7], heads: 4, headDim: 32}),
      problem({spatial: [8, 16, 16], kernelSize: [3, 7, 7], heads: 4, headsKv: 2, headDim: 32, hasRpb: true}),
      problem({spatial: [19, 33], kernelSize: [5, 13], isCausal: [true, true], heads: 2, headDim: 16, hasRpb: true}),
    ];
    for (const p of problems) {
      const x = inputs(p, 5);
      for (const isa of ISAS) {
        expect(forwardBlocked(p, isa)).toBe(true);
        const rows = run(p, x, isa, true, 0, 2, false).f;
        for (const lines of LINES) {
          const blocked = run(p, x, isa, true, 0, lines).f;
          expectClose(blocked.output, rows.output, 2e-5, `${isa} ${lines}-line output`);
          expectClose(blocked.lse, rows.lse, 2e-5, `${isa} ${lines}-line lse`);
        }
      }
    }
  });

  it('gives the same bits on 1, 2, 3 and 8 threads', () => {
    const p = problem({spatial: [36, 40], kernelSize: [5, 7], heads: 2, headsKv: 1, headDim: 32, hasRpb: true,
                       isCausal: [true, false]});
    const x = inputs(p, 23);
    for (const isa of ISAS) {
      expect(forwardBlocked(p, isa)).toBe(true);
      for (const lines of LINES) {
        const runs = [1, 2, 3, 8].map(n => run(p, x, isa, true, n, lines).f);
        for (const r of runs.slice(1)) {
          expect(bytesOf(r.output).equals(bytesOf(runs[0].output))).toBe(true);
          expect(bytesOf(r.lse).equals(bytesOf(runs[0].lse))).toBe(true);
        }
      }
    }
  });

  it('takes only what it handles, and the switch', () => {
    const takes = (o: Partial<RefProblem>) =>
      addon!.blockedForward(geometry(infoOf(problem({spatial: [12, 40], kernelSize: [3, 5], headDim: 16, ...o}))));
    expect(takes({})).toBe(true);
    expect(takes({nExtra: 1})).toBe(false);
    expect(takes({dilation: [1, 2]})).toBe(false);
    expect(takes({dilation: [2, 1], isCausal: [true, true], stride: [2, 3]})).toBe(true);
    expect(takes({kernelSize: [3, 17]})).toBe(false);
    expect(takes({kernelSize: [3, 16]})).toBe(true);
    expect(takes({headDim: 12})).toBe(false);
    expect(takes({headDim: 16, headDimV: 32})).toBe(false);
    expect(takes({headDim: 16 * 4 + 16})).toBe(false);  // more than four vectors of any ISA
    addon!.setBlockedForward(false);
    try {
      expect(takes({})).toBe(false);
    } finally {
      addon!.setBlockedForward(true);
    }
    expect(() => addon!.setBlockedForward(0 as unknown as boolean)).toThrow(/setBlockedForward: expected a boolean/);
  });

  it('Inf or NaN in the value: the per-row forward runs, so masked pairs still contribute nothing', () => {
    // An Inf value row poisons the outputs of the queries that see it (Inf times a probability, then Inf - Inf
    // or Inf / sum), no others: the blocked kernel would multiply it by the exact zeros of masked lanes.
    const p = problem({spatial: [6, 20], kernelSize: [3, 5], headDim: 16});
    const x = inputs(p, 11);
    const D = p.headDim, heads = p.heads;
    const token = 2 * 20 + 10;  // row 2, column 10
    for (let h = 0; h < heads; ++h) x.v[(token * heads + h) * D + 3] = Infinity;
    for (const isa of ISAS) {
      expect(forwardBlocked(p, isa)).toBe(true);
      const blocked = run(p, x, isa, true).f;
      const rows = run(p, x, isa, true, 0, 2, false).f;
      const bad = (v: Float32Array) => Array.from(v, (y, i) => (Number.isFinite(y) ? -1 : i)).filter(i => i >= 0);
      expect(bad(blocked.output)).toEqual(bad(rows.output));
      expect(bad(rows.output).length).toBeGreaterThan(0);
      // Query (row 0, column 0) never sees the Inf value: its output stays finite.
      for (let d = 0; d < D; ++d) expect(Number.isFinite(blocked.output[d])).toBe(true);
      expectClose(blocked.output.map(y => (Number.isFinite(y) ? y : 0)), rows.output.map(y => (Number.isFinite(y) ? y : 0)),
                  1e-5, 'finite part');
    }
  });

  it('a value near float\'s largest outside a query\'s window leaves its output alone, as per row', () => {
    // Column 10 of every row holds 1e38 values. The queries whose windows (kernel 5) miss it, columns 0-7 and
    // 13-19, must not see it, though the tiles of columns 6, 7, 13 and 14 read it: a masked lane's weight has to
    // be exactly 0 (a weight of 2^-126, the floor exp once had, times 1e38 is about 1).
    const p = problem({spatial: [6, 20], kernelSize: [3, 5], headDim: 16});
    const x = inputs(p, 17);
    const D = p.headDim, heads = p.heads, W = 20;
    for (let y = 0; y < 6; ++y) {
      for (let h = 0; h < heads; ++h) x.v.fill(1e38, ((y * W + 10) * heads + h) * D, ((y * W + 10) * heads + h + 1) * D);
    }
    const apart = (o: ArrayLike<number>) => Array.from(o).filter((_, i) => {
      const col = Math.floor(i / (heads * D)) % W;
      return col < 8 || col > 12;
    });
    // The per-row kernels (forward and backward) keep them apart too: their outputs against the float64 reference.
    const ref = refForward(p, x);
    for (const isa of ISAS) {
      expect(forwardBlocked(p, isa)).toBe(true);
      const rows = run(p, x, isa, false, 0, 2, false);
      expectClose(apart(rows.f.output), apart(ref.out), 1e-5, `${isa} per-row output apart`);
      for (const lines of LINES) {
        const blocked = run(p, x, isa, true, 0, lines);
        expect(blocked.f.output.every(Number.isFinite)).toBe(true);
        expectClose(apart(blocked.f.output), apart(rows.f.output), 1e-5, `${isa} ${lines}-line output apart`);
        expectClose(blocked.f.lse, rows.f.lse, 1e-5, `${isa} ${lines}-line lse`);
        expectClose(apart(blocked.b.dQuery), apart(rows.b.dQuery), 1e-5, `${isa} ${lines}-line dq apart`);
      }
    }
  });

  it('a key in a query\'s window but far below its largest weighs nothing, per row and blocked, forward and ' +
     'backward, every ISA (exp is 0 below its range, not float\'s smallest normal)', () => {
    // Column 10's keys score about 120 below the rest and hold 1e38 values (farKeyColumn): the queries of
    // columns 8-12 see them. Before exp flushed to 0 below its range, both kernels weighed them 2^-126: those
    // outputs moved by about 1, dq and dk by more.
    const p = problem({spatial: [6, 20], kernelSize: [3, 5], headDim: 16, batch: 2});
    const x = inputs(p, 23);
    farKeyColumn(p, x, 10);
    const ref = refForward(p, x);
    const g = refBackward(p, x, x.dOut, x.dLse);
    for (const isa of ISAS) {
      expect(forwardBlocked(p, isa)).toBe(true);
      const runs: Array<[string, ReturnType<typeof run>]> = [
        ['per-row', run(p, x, isa, false, 0, 2, false)],
        ...LINES.map(lines => [`${lines}-line blocked`, run(p, x, isa, true, 0, lines)] as [string, ReturnType<typeof run>])];
      for (const [kernels, r] of runs) {
        const what = `${isa} ${kernels}`;
        expectClose(r.f.output, ref.out, 1e-5, `${what} output`);
        expectClose(r.f.lse, ref.lse, 1e-5, `${what} lse`);
        expectClose(r.b.dQuery, g.dq, 1e-5, `${what} dq`);
        expectClose(r.b.dKey, g.dk, 1e-5, `${what} dk`);
        expectClose(r.b.dValue, g.dv, 1e-5, `${what} dv`);
      }
    }
  });

  it('a NaN key runs blocked and poisons exactly the queries whose windows hold it, as per row', () => {
    const p = problem({spatial: [6, 20], kernelSize: [3, 5], headDim: 16});
    const x = inputs(p, 13);
    const D = p.headDim, heads = p.heads;
    const token = 3 * 20 + 4;  // row 3, column 4
    for (let h = 0; h < heads; ++h) x.k[(token * heads + h) * D + 5] = NaN;
    for (const isa of ISAS) {
      expect(forwardBlocked(p, isa)).toBe(true);
      const blocked = run(p, x, isa, true).f;
      const rows = run(p, x, isa, true, 0, 2, false).f;
      for (const [a, e] of [[blocked.output, rows.output], [blocked.lse, rows.lse]]) {
        const nan = (v: Float32Array) => Array.from(v, (y, i) => (Number.isNaN(y) ? i : -1)).filter(i => i >= 0);
        expect(nan(a)).toEqual(nan(e));
        expect(nan(e).length).toBeGreaterThan(0);
        expectClose(a.map(y => (Number.isNaN(y) ? 0 : y)), e.map(y => (Number.isNaN(y) ? 0 : y)), 1e-5, 'the rest');
      }
    }
  });
});

describe('native outputs: cache-line aligned views, rows streamed or stored', () => {
  // The addon makes the kernels' outputs (`output`, na_native.ts) starting on a cache line, and the blocked
  // kernels then write output rows (and the backward its copies back of dk and dv) with streaming stores;
  // outputs that start elsewhere (a caller's own arrays) take plain stores. Same bits either way.
  it('output(n): n floats in a view that starts on a 4-byte boundary within its buffer; bad counts throw', () => {
    for (const n of [0, 1, 7, 1000, 401408]) {
      const x = addon!.output(n);
      expect(x).toBeInstanceOf(Float32Array);
      expect(x.length).toBe(n);
      expect(x.byteOffset % 4).toBe(0);
      expect(x.byteOffset + x.byteLength).toBeLessThanOrEqual(x.buffer.byteLength);
    }
    for (const bad of [-1, 1.5, 2 ** 32, NaN, '3' as unknown as number]) {
      expect(() => addon!.output(bad)).toThrow(/natten_cpu\.output: expected an element count from 0 to 2\^32 - 1/);
    }
  });

  it('the blocked forward and backward give the same bits into the addon\'s outputs and into unaligned ones, ' +
     'every ISA, with and without staged kv heads', () => {
    // A view 4 bytes into a fresh buffer starts 4 bytes past a 16-byte boundary: never on a cache line.
    const unaligned = (n: number) => new Float32Array(new ArrayBuffer(4 * n + 4), 4, n);
    const problems = [
      problem({spatial: [20, 24], kernelSize: [5, 7], heads: 4, headsKv: 2, headDim: 32, hasRpb: true}),
      problem({spatial: [9, 30], kernelSize: [3, 9], heads: 2, headDim: 16, isCausal: [false, true]}),
    ];
    for (const p of problems) {
      const x = inputs(p, 31);
      const info = infoOf(p), g = geometry(info);
      const rows = info.batch * info.numTokens * info.heads;
      for (const isa of ISAS) {
        expect(forwardBlocked(p, isa)).toBe(true);
        expect(addon!.setIsa(isa)).toBe(true);
        try {
          const results = [(n: number) => addon!.output(n), unaligned].map(make => {
            const out = make(rows * info.headDimV), lse = make(rows);
            addon!.naForward(g, info.scale, x.q, x.k, x.v, x.rpb ?? null, null, null, out, lse);
            const dq = make(x.q.length), dk = make(x.k.length), dv = make(x.v.length);
            const drpb = x.rpb == null ? null : make(x.rpb.length);
            addon!.naBackward(g, info.scale, x.q, x.k, x.v, x.rpb ?? null, null, null, out, lse, x.dOut, x.dLse, dq,
                              dk, dv, drpb, null, null);
            return {out, lse, dq, dk, dv, drpb};
          });
          const [a, u] = results;
          expect(a.out.byteOffset % 4).toBe(0);
          for (const name of ['out', 'lse', 'dq', 'dk', 'dv', 'drpb'] as const) {
            if (a[name] == null) continue;
            expect(bytesOf(a[name]!).equals(bytesOf(u[name]!))).toBe(true);
          }
          const ref = refForward(p, x);
          expectClose(a.out, ref.out, 2e-5, `${isa} output against the reference`);
        } finally {
          addon!.setIsa('auto');
        }
      }
    }
  });
});
