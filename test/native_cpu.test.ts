/**
 * The native CPU kernels (natten_cpu, native/src/cpu) tested directly: every kernel against the WebAssembly
 * kernels (fused) and the JavaScript loops (split ops) on large random shapes, with the AVX2 and the
 * portable row kernels, on one thread and several (results must be bit-identical whatever the thread
 * count); against the float64 reference on awkward small shapes for the head-dim variants (registers for
 * 8/16/24/32, any dims otherwise); the addon's argument checks; the flag and the fallback when the addon is
 * missing. Every other suite runs these kernels as the `cpu` backend through test/harness.ts.
 */
import {execFileSync} from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import {computeAVInfo, computeQKVInfo} from '../src/core/na_info';
import {getCpuKernelPath, NATTEN_CPU_NATIVE} from '../src/flags';
import {na2d, nativeStatus} from '../src/index';
import {avBackwardImpl, avForwardImpl, naBackwardImpl, naForwardImpl, qkBackwardImpl, qkForwardImpl}
  from '../src/kernels/cpu/na_impl';
import {avBackwardNative, avForwardNative, naBackwardNative, naForwardNative, nattenCpu, qkBackwardNative,
        qkForwardNative} from '../src/kernels/cpu/na_native';
import {problem} from './problems';
import {refAV, refBackward, refForward, RefProblem} from './reference';
import {qkvInfoOf} from './kernel_inputs';
import {bytesOf, expectClose, makeValues, randArray, rng, shapes} from './util';

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

const infoOf = qkvInfoOf;

function avInfoOf(p: RefProblem) {
  const s = shapes(p);
  return computeAVInfo(s.weights, s.v, {kernelSize: p.kernelSize, stride: p.stride, dilation: p.dilation,
                                        isCausal: p.isCausal, scale: 1});
}

/** A problem's inputs, upstream gradients of out/lse/logits, and split-op weights (finite, masked slots 0). */
function inputs(p: RefProblem, seed: number) {
  const r = rng(seed + 1), s = shapes(p);
  return {...makeValues(p, seed), dOut: randArray(r, size(s.out)), dLse: randArray(r, size(s.lse)),
          dLogits: randArray(r, size(s.weights)), weights: randArray(r, size(s.weights))};
}

type X = ReturnType<typeof inputs>;
const opt = (x: Float32Array | undefined) => x ?? null;

/** Every native kernel's outputs on one problem, in a fixed order (for comparisons and bit-equality). */
function runNative(p: RefProblem, x: X): Record<string, Float32Array> {
  const info = infoOf(p), av = avInfoOf(p);
  const f = naForwardNative(info, x.q, x.k, x.v, opt(x.rpb), opt(x.addK), opt(x.addV))!;
  const b = naBackwardNative(info, x.q, x.k, x.v, f.output, f.lse, x.dOut, x.dLse, opt(x.rpb), opt(x.addK),
                             opt(x.addV))!;
  const qkInfo = computeQKVInfo(shapes(p).q, shapes(p).k, null, p.nExtra > 0 ? shapes(p).addK : null, p.hasRpb, info);
  const logits = qkForwardNative(qkInfo, x.q, x.k, opt(x.rpb), opt(x.addK))!;
  const qb = qkBackwardNative(qkInfo, x.dLogits, x.q, x.k, opt(x.addK))!;
  const avOut = avForwardNative(av, x.weights, x.v, opt(x.addV))!;
  const ab = avBackwardNative(av, x.dOut, x.weights, x.v, opt(x.addV))!;
  const out: Record<string, Float32Array | null> = {
    output: f.output, lse: f.lse, dq: b.dQuery, dk: b.dKey, dv: b.dValue, drpb: b.dRpb, dek: b.dAdditionalKeys,
    dev: b.dAdditionalValues, logits, qkDq: qb.dQuery, qkDk: qb.dKey, qkDrpb: qb.dRpb, qkDek: qb.dAdditionalKeys,
    av: avOut, avDw: ab.dWeights, avDv: ab.dValue, avDev: ab.dAdditionalValues,
  };
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v != null)) as Record<string, Float32Array>;
}

/** The same outputs from the WebAssembly (fused) and generic JavaScript (split) kernels. */
function runWasm(p: RefProblem, x: X): Record<string, Float32Array> {
  const info = infoOf(p), av = avInfoOf(p);
  const f = naForwardImpl(info, x.q, x.k, x.v, opt(x.rpb), opt(x.addK), opt(x.addV), 'wasm');
  const b = naBackwardImpl(info, x.q, x.k, x.v, f.output, f.lse, x.dOut, x.dLse, opt(x.rpb), opt(x.addK),
                           opt(x.addV), 'wasm');
  const qkInfo = computeQKVInfo(shapes(p).q, shapes(p).k, null, p.nExtra > 0 ? shapes(p).addK : null, p.hasRpb, info);
  const logits = qkForwardImpl(qkInfo, x.q, x.k, opt(x.rpb), opt(x.addK), 'generic');
  const qb = qkBackwardImpl(qkInfo, x.dLogits, x.q, x.k, p.hasRpb, opt(x.addK), 'generic');
  const avOut = avForwardImpl(av, x.weights, x.v, opt(x.addV), 'generic');
  const ab = avBackwardImpl(av, x.dOut, x.weights, x.v, opt(x.addV), 'generic');
  const out: Record<string, Float32Array | null> = {
    output: f.output, lse: f.lse, dq: b.dQuery, dk: b.dKey, dv: b.dValue, drpb: b.dRpb, dek: b.dAdditionalKeys,
    dev: b.dAdditionalValues, logits, qkDq: qb.dQuery, qkDk: qb.dKey, qkDrpb: qb.dRpb, qkDek: qb.dAdditionalKeys,
    av: avOut, avDw: ab.dWeights, avDv: ab.dValue, avDev: ab.dAdditionalValues,
  };
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v != null)) as Record<string, Float32Array>;
}

/** Max |a-b| relative to the largest |b| of the array (sums of hundreds of terms: absolute tolerances vary). */
function expectNear(actual: Float32Array, expected: Float32Array, rtol: number, what: string): void {
  let scale = 1;
  for (const v of expected) {
    if (Number.isFinite(v)) {
      scale = Math.max(scale, Math.abs(v));
    }
  }
  expectClose(actual, expected, rtol * scale, what);
}

const addon = nattenCpu();
type Isa = 'avx512zmm' | 'avx512' | 'avx2' | 'portable';
// Every row-kernel set this CPU runs: AVX-512 with the blocked backward on 512-bit rows, AVX-512 (AVX2 code with
// 32 registers), AVX2, portable.
const ISAS: Isa[] = addon == null ? ['portable'] :
    [...(addon.cpuHasAvx512() ? ['avx512zmm' as const, 'avx512' as const] : []),
     ...(addon.cpuHasAvx2() ? ['avx2' as const] : []), 'portable'];

function withIsa<T>(isa: Isa, fn: () => T): T {
  expect(addon!.setIsa(isa)).toBe(true);
  try {
    return fn();
  } finally {
    addon!.setIsa('auto');
  }
}

/** What a Node child running `script` (TypeScript through tsx, in the project root) prints, with `env` added. */
function childOutput(script: string, env: Record<string, string>): string {
  return execFileSync(process.execPath, ['--require', 'tsx/cjs', '-e', script],
                      {cwd: path.join(__dirname, '..'), encoding: 'utf8', env: {...process.env, ...env}}).trim();
}

function withThreads<T>(n: number, fn: () => T): T {
  addon!.setNumThreads(n);
  try {
    return fn();
  } finally {
    addon!.setNumThreads(0);
  }
}

describe('native CPU kernels: the addon', () => {
  it('loads (npm run build:native), with a thread pool and row kernels for this CPU', () => {
    const status = nativeStatus().cpu;
    expect(status.reason).toBeNull();
    expect(status.loaded).toBe(true);
    expect(status.path).toMatch(/natten_cpu\.node$/);
    expect(addon!.numThreads()).toBeGreaterThanOrEqual(1);
    expect(addon!.isa()).toBe(ISAS[0]);
  });

  it('measures the clock for the benchmark\'s peak two ways that agree (register adds, FMA chain)', () => {
    // A chain of adds of an immediate read 11-19 GHz on an Intel VM whose cores fold such adds (clock.cc): the
    // add chain must land near the FMA chain's clock and in a range cores run at.
    const {addChainGhz, fmaChainGhz} = addon!.measureClock();
    expect(addChainGhz).toBeGreaterThan(0.5);
    expect(addChainGhz).toBeLessThan(7);
    if (addon!.cpuHasAvx2()) {
      expect(addChainGhz / fmaChainGhz).toBeGreaterThan(0.6);
      expect(addChainGhz / fmaChainGhz).toBeLessThan(1.6);
    }
  });

  it('runs the AVX2 kernels where the CPU has AVX2 and FMA (this machine, and CI)', () => {
    // Both paths are tested below; this states which ones ran. A CPU without AVX2 runs the portable ones.
    const cpuinfo = fs.existsSync('/proc/cpuinfo') ? fs.readFileSync('/proc/cpuinfo', 'utf8') : '';
    const flags = /^flags\s*:(.*)$/m.exec(cpuinfo)?.[1].split(/\s+/) ?? [];
    if (flags.length > 0) {
      expect(addon!.cpuHasAvx2()).toBe(flags.includes('avx2') && flags.includes('fma'));
    }
    expect(addon!.setIsa('avx2')).toBe(addon!.cpuHasAvx2());
    addon!.setIsa('auto');
  });

  it('runs the AVX-512 kernels where the CPU has AVX-512F and VL (this machine and CI), else falls back', () => {
    // Linux lists avx512f / avx512vl only when the OS saves their register state, as cpu_has_avx512 checks.
    const cpuinfo = fs.existsSync('/proc/cpuinfo') ? fs.readFileSync('/proc/cpuinfo', 'utf8') : '';
    const flags = /^flags\s*:(.*)$/m.exec(cpuinfo)?.[1].split(/\s+/) ?? [];
    if (flags.length > 0) {
      expect(addon!.cpuHasAvx512())
          .toBe(addon!.cpuHasAvx2() && flags.includes('avx512f') && flags.includes('avx512vl'));
    }
    expect(addon!.setIsa('avx512')).toBe(addon!.cpuHasAvx512());
    expect(addon!.isa()).toBe(addon!.cpuHasAvx512() ? 'avx512' : ISAS[0]);
    expect(addon!.setIsa('avx512zmm')).toBe(addon!.cpuHasAvx512());
    expect(addon!.isa()).toBe(ISAS[0]);
    // Forced down to AVX2 (a CPU without AVX-512 gets it from 'auto'), then back.
    if (addon!.cpuHasAvx2()) {
      expect(addon!.setIsa('avx2')).toBe(true);
      expect(addon!.isa()).toBe('avx2');
    }
    addon!.setIsa('auto');
    expect(addon!.isa()).toBe(ISAS[0]);
  });

  it('NATTEN_CPU_ISA=avx512, avx2 or portable in the environment sets the initial row kernels', () => {
    const run = (value: string) =>
        childOutput("console.log(require('./src/kernels/cpu/na_native').nattenCpu().isa())", {NATTEN_CPU_ISA: value});
    expect(run('portable')).toBe('portable');
    expect(run('avx2')).toBe(addon!.cpuHasAvx2() ? 'avx2' : 'portable');
    expect(run('avx512')).toBe(addon!.cpuHasAvx512() ? 'avx512' : ISAS[0]);
    expect(run('avx512zmm')).toBe(ISAS[0]);
  });

  it('checks its arguments: lengths against the geometry, the geometry itself, the ISA name', () => {
    const p = problem({spatial: [6], kernelSize: [3]});
    const x = inputs(p, 1);
    const info = infoOf(p);
    const short = new Float32Array(x.q.length - 1);
    expect(() => naForwardNative(info, short, x.k, x.v, null, null, null))
        .toThrow(/^natten_cpu\.naForward: query has 47 elements, expected 48$/);
    expect(() => naForwardNative({...info, k3: [1, 1, 7]}, x.q, x.k, x.v, null, null, null))
        .toThrow(/^natten_cpu\.naForward: kernel\[2\] \* dilation\[2\] = 7 \* 1 must be <= length\[2\]=6$/);
    expect(() => naForwardNative({...info, hasRpb: true}, x.q, x.k, x.v, null, null, null))
        .toThrow(/^natten_cpu\.naForward: rpb must be a Float32Array$/);
    expect(() => addon!.setIsa('sse' as 'avx2'))
        .toThrow(/expected 'auto', 'avx512zmm', 'avx512', 'avx2' or 'portable', got 'sse'/);
  });

  const objectOf = (isa: 'avx2' | 'avx512' | 'avx512zmm') => path.join(__dirname, '..', 'build', 'Release', 'obj.target',
                                                          `natten_cpu_${isa}`, 'native', 'src', 'cpu',
                                                          `kernels_${isa}.o`);

  for (const isa of ['avx2', 'avx512', 'avx512zmm'] as const) {
    it(`compiles nothing outside its own namespace into the ${isa} object (no shared inline code)`, () => {
      // The AVX2 (AVX-512) row kernels' object file must define only symbols of natten::cpu::avx2 (avx512)
      // and avx2_kernels (avx512_kernels): an inline or template function it shared with the portable code
      // could be kept by the linker in its AVX2 (AVX-512) form and crash a CPU without it.
      const obj = objectOf(isa);
      expect(fs.existsSync(obj)).toBe(true);
      const symbols = execFileSync('nm', ['-C', '--defined-only', obj], {encoding: 'utf8'}).split('\n')
                          .filter(l => / [TWVu] /.test(l)).map(l => l.slice(l.indexOf(' ', 17) + 1));
      expect(symbols.length).toBeGreaterThan(0);
      const foreign = symbols.filter(s => !s.includes(`natten::cpu::${isa}::`) &&
                                          s !== `natten::cpu::${isa}_kernels()`);
      expect(foreign).toEqual([]);
    });
  }

  it('the AVX2 object uses no AVX-512 register (it runs on AVX2-only CPUs); the AVX-512 ones use ymm16-31, and ' +
     'the avx512zmm one zmm registers', () => {
    const registers = (isa: 'avx2' | 'avx512' | 'avx512zmm') => {
      const asm = execFileSync('objdump', ['-d', '--no-show-raw-insn', objectOf(isa)],
                               {encoding: 'utf8', maxBuffer: 1 << 28});
      return new Set(asm.match(/%(zmm\d+|ymm(1[6-9]|2\d|3[01])|xmm(1[6-9]|2\d|3[01])|k[0-7])\b/g) ?? []);
    };
    expect([...registers('avx2')]).toEqual([]);
    expect(registers('avx512').size).toBeGreaterThan(4);
    expect([...registers('avx512zmm')].filter(r => r.startsWith('%zmm')).length).toBeGreaterThan(4);
  });
});

describe('native CPU kernels: the flag and the fallback', () => {
  it('NATTEN_CPU_NATIVE selects the native path; off, the WebAssembly one', () => {
    tf.env().set(NATTEN_CPU_NATIVE, true);
    expect(getCpuKernelPath()).toBe('native');
    tf.env().set(NATTEN_CPU_NATIVE, false);
    expect(getCpuKernelPath()).toBe('wasm');
    tf.env().set(NATTEN_CPU_NATIVE, true);
  });

  it('the environment variable NATTEN_CPU_NATIVE=0 sets the flag\'s default to false', () => {
    const script = "require('./src/flags').registerFlags(); console.log(require('./src/flags').getCpuKernelPath())";
    const run = (value: string) => childOutput(script, {NATTEN_CPU_NATIVE: value});
    expect(run('0')).toBe('wasm');
    expect(run('1')).toBe('native');
  });

  it('without the addon the kernels return null, the status says why, and the ops run WebAssembly', () => {
    const p = problem({spatial: [5, 6], kernelSize: [3, 3], hasRpb: true, headDim: 8});
    const x = inputs(p, 5);
    const reason = 'no natten_cpu.node for linux-x64 (looked in /x/prebuilds/linux-x64/natten_cpu.node, ' +
        '/x/build/Release/natten_cpu.node)';
    jest.isolateModules(() => {
      jest.doMock('../src/native/addon_loader', () => ({loadAddon: () => ({addon: null, path: null, reason})}));
      const native = require('../src/kernels/cpu/na_native') as typeof import('../src/kernels/cpu/na_native');
      const impl = require('../src/kernels/cpu/na_impl') as typeof import('../src/kernels/cpu/na_impl');
      const info = infoOf(p);
      expect(native.nativeCpuStatus().reason).toBe(reason);
      expect(native.naForwardNative(info, x.q, x.k, x.v, x.rpb!, null, null)).toBeNull();
      const fwd = impl.naForwardImpl(info, x.q, x.k, x.v, x.rpb!, null, null, 'native');
      expectClose(fwd.output, refForward(p, x).out, 1e-5, 'output through the fallback');
      jest.dontMock('../src/native/addon_loader');
    });
  });
});

// Large random shapes: every kernel, native against WebAssembly / JavaScript, both row-kernel sets.
const LARGE: Array<[string, RefProblem]> = [
  ['2-D 40x44, 4 heads on 2 kv heads, dim 32, kernel 7x5, dilation 2x1, causal axis 1, rpb, 3 extra tokens',
   problem({spatial: [40, 44], kernelSize: [7, 5], dilation: [2, 1], isCausal: [false, true], heads: 4, headsKv: 2,
            headDim: 32, hasRpb: true, nExtra: 3})],
  ['2-D batch 2, 33x29, dims 20/12, kernel 6x9 stride 3x2, MQA 3:1, rpb',
   problem({spatial: [33, 29], kernelSize: [6, 9], stride: [3, 2], heads: 3, headsKv: 1, headDim: 20, headDimV: 12,
            hasRpb: true, batch: 2})],
  ['1-D 1000 tokens, kernel 63, dilation 3, dim 64, 2 extra tokens',
   problem({spatial: [1000], kernelSize: [63], dilation: [3], headDim: 64, nExtra: 2})],
  ['3-D 8x14x12, dim 16, kernel 3x5x5, causal axis 0, stride 1x2x1, rpb',
   problem({spatial: [8, 14, 12], kernelSize: [3, 5, 5], isCausal: [true, false, false], stride: [1, 2, 1],
            headDim: 16, hasRpb: true})],
];

describe('native CPU kernels against the WebAssembly and JavaScript kernels, large random shapes', () => {
  for (const [title, p] of LARGE) {
    const x = inputs(p, 11);
    let expected: Record<string, Float32Array> | null = null;
    const want = () => (expected ??= runWasm(p, x));
    for (const isa of ISAS) {
      it(`${isa}: ${title}`, () => {
        const got = withIsa(isa, () => runNative(p, x));
        const ref = want();
        expect(Object.keys(got).sort()).toEqual(Object.keys(ref).sort());
        for (const name of Object.keys(ref)) {
          expectNear(got[name], ref[name], 2e-5, name);
        }
      });
    }
  }
});

describe('native CPU kernels: bit-identical on any number of threads', () => {
  // Enough tokens and few enough (batch, kv head) pairs that the backward kernels cut each into several
  // chunks with halos (key-side gradients, extra tokens and rpb summed from partial buffers).
  const p = problem({spatial: [36, 40], kernelSize: [5, 7], dilation: [1, 2], heads: 2, headsKv: 1, headDim: 24,
                     headDimV: 24, hasRpb: true, nExtra: 2, isCausal: [true, false]});
  const x = inputs(p, 21);
  for (const isa of ISAS) {
    it(`${isa}: 1, 2, 3 and 8 threads give the same bits, twice`, () => {
      const runs = [1, 2, 3, 8, 2].map(n => withThreads(n, () => withIsa(isa, () => runNative(p, x))));
      for (const r of runs.slice(1)) {
        for (const name of Object.keys(runs[0])) {
          expect(bytesOf(r[name]).equals(bytesOf(runs[0][name]))).toBe(true);
        }
      }
    });
  }
});

describe('native CPU kernels: outputs need not be initialized', () => {
  // na_native.ts hands the addon uninitialized arrays (the addon's `output`: Node Buffer memory, not cleared):
  // every kernel must write every element. Run with every allocated byte 0xff (NaN) and with every byte 0: the
  // same bits.
  const problems: Array<[string, RefProblem]> = [
    ['2-D blocked, rpb, GQA, causal axis 0', problem({spatial: [9, 12], kernelSize: [3, 5], heads: 4, headsKv: 2,
                                                      headDim: 16, hasRpb: true, isCausal: [true, false]})],
    ['2-D per row: extra tokens, rpb, stride, dilation, dims 8/24',
     problem({spatial: [10, 11], kernelSize: [3, 3], stride: [2, 1], dilation: [2, 3], nExtra: 2, headDim: 8,
              headDimV: 24, hasRpb: true})],
    ['3-D causal, MQA', problem({spatial: [4, 5, 6], kernelSize: [2, 3, 3], heads: 3, headsKv: 1, headDim: 32,
                                 isCausal: [true, false, true]})],
  ];
  for (const [title, p] of problems) {
    it(title, () => {
      const x = inputs(p, title.length);
      const make = addon!.output.bind(addon);
      const filled = (byte: number) => {
        const spy = jest.spyOn(addon!, 'output').mockImplementation(n => {
          const a = make(n);
          new Uint8Array(a.buffer, a.byteOffset, a.byteLength).fill(byte);
          return a;
        });
        try {
          const out = runNative(p, x);
          expect(spy).toHaveBeenCalled();
          return out;
        } finally {
          spy.mockRestore();
        }
      };
      const nan = filled(0xff), zero = filled(0);
      expect(Object.keys(nan)).toEqual(Object.keys(zero));
      for (const name of Object.keys(zero)) {
        expect([name, bytesOf(nan[name]).equals(bytesOf(zero[name]))]).toEqual([name, true]);
      }
    });
  }
});

describe('native CPU kernels: the pool\'s idle workers', () => {
  it('spin for the next job as long as set (NATTEN_POOL_SPIN_US, default 100 us), with the same bits either way', () => {
    const p = problem({spatial: [20, 24], kernelSize: [5, 7], dilation: [1, 2], heads: 2, headsKv: 1, headDim: 16,
                       headDimV: 16, hasRpb: true, nExtra: 1, isCausal: [false, true]});
    const x = inputs(p, 5);
    expect(addon!.poolSpin()).toBe(100);
    const spun = withThreads(2, () => runNative(p, x));
    addon!.setPoolSpin(0);
    try {
      expect(addon!.poolSpin()).toBe(0);
      const slept = withThreads(2, () => runNative(p, x));
      for (const name of Object.keys(spun)) {
        expect(bytesOf(slept[name]).equals(bytesOf(spun[name]))).toBe(true);
      }
    } finally {
      addon!.setPoolSpin(100);
    }
    expect(() => addon!.setPoolSpin(-1)).toThrow(/setPoolSpin: expected microseconds from 0 to 1000000/);
    expect(childOutput(`console.log(require('./src/kernels/cpu/na_native').nattenCpu().poolSpin())`,
                       {NATTEN_POOL_SPIN_US: '0'})).toBe('0');
  });
});

describe('native CPU kernels against the float64 reference: head-dim variants', () => {
  // Equal head dims of 8, 16, 24, 32 keep the backward's rows in registers; others take the general path.
  const dims: Array<[number, number]> = [[8, 8], [16, 16], [24, 24], [32, 32], [3, 3], [9, 9], [40, 40], [32, 16], [5, 13]];
  for (const isa of ISAS) {
    for (const [D, Dv] of dims) {
      it(`${isa}: head dims ${D}/${Dv}, 2-D causal/dilated, GQA, rpb, extra tokens`, () => {
        const p = problem({spatial: [7, 9], kernelSize: [3, 4], dilation: [2, 1], isCausal: [false, true], heads: 4,
                           headsKv: 2, headDim: D, headDimV: Dv, hasRpb: true, nExtra: 2, batch: 2});
        const x = inputs(p, D * 100 + Dv);
        const got = withIsa(isa, () => runNative(p, x));
        const ref = refForward(p, x);
        const g = refBackward(p, x, x.dOut, x.dLse);
        const pairs: Array<[string, ArrayLike<number>]> = [
          ['output', ref.out], ['lse', ref.lse], ['dq', g.dq], ['dk', g.dk], ['dv', g.dv], ['drpb', g.drpb],
          ['dek', g.daddK], ['dev', g.daddV], ['logits', ref.logits], ['av', refAV(p, x.weights, x.v, x.addV)],
        ];
        for (const [name, want] of pairs) {
          expectClose(got[name], want, 2e-5, name);
        }
      });
    }
  }
});

describe('native CPU kernels in a browser bundle', () => {
  it('a bundle for the browser runs without Node (no process, no require): WebAssembly, and the status says why', async () => {
    // esbuild (platform browser) bundles the package with the cpu backend; the bundle runs in a bare context.
    const esbuild = require('esbuild') as typeof import('esbuild');
    const entry = "import * as tf from '@tensorflow/tfjs-core'; import '@tensorflow/tfjs-backend-cpu';" +
        "import {na2d, nativeStatus} from './src/index';" +
        'globalThis.check = async () => { await tf.setBackend(\'cpu\'); const q = tf.ones([1, 5, 6, 2, 4]);' +
        'const o = na2d(q, q, q, {kernelSize: 3}); return {sum: (await o.data()).reduce((a, b) => a + b, 0), ' +
        'reason: nativeStatus().cpu.reason}; };';
    const built = await esbuild.build({stdin: {contents: entry, resolveDir: path.join(__dirname, '..'), loader: 'ts'},
                                       bundle: true, platform: 'browser', format: 'iife', write: false, logLevel: 'silent'});
    const vm = require('vm') as typeof import('vm');
    const sandbox: Record<string, unknown> = {console, setTimeout, clearTimeout, TextEncoder, TextDecoder, WebAssembly,
                                              performance, queueMicrotask};
    sandbox.globalThis = sandbox.self = sandbox.window = sandbox;
    vm.createContext(sandbox);
    vm.runInContext(built.outputFiles[0].text, sandbox);
    const result = await vm.runInContext('check()', sandbox);
    expect(result).toEqual({sum: 240, reason: 'not running in Node.js'});
  });
});

describe('native CPU kernels through the ops', () => {
  it('the cpu backend hands them its own typed arrays (no copy in or out)', async () => {
    await tf.setBackend('cpu');
    const backend = tf.backend() as tf.KernelBackend & {data: {get(id: object): {values: Float32Array}}};
    const q = tf.tensor(randArray(rng(8), 6 * 7 * 2 * 8), [1, 6, 7, 2, 8]);
    const spy = jest.spyOn(addon!, 'naForward');
    try {
      const out = na2d(q, q, q, {kernelSize: 3});
      expect(spy).toHaveBeenCalledTimes(1);
      const args = spy.mock.calls[0];
      expect(args[2]).toBe(backend.data.get(q.dataId).values);  // the query, as the backend holds it
      expect(backend.data.get(out.dataId).values).toBe(args[8]);  // the output array the kernel wrote
      tf.dispose([q, out]);
    } finally {
      spy.mockRestore();
    }
  });

  it('off by its flag, the status says so (the path is then WebAssembly: see the flag test)', () => {
    tf.env().set(NATTEN_CPU_NATIVE, false);
    try {
      expect(nativeStatus().cpu).toMatchObject({loaded: true, enabled: false});
      expect(nativeStatus().cpu.reason).toMatch(/^turned off by the flag NATTEN_CPU_NATIVE/);
    } finally {
      tf.env().set(NATTEN_CPU_NATIVE, true);
    }
  });

  it('na2d on the cpu backend runs them (same result as the kernel called directly)', async () => {
    await tf.setBackend('cpu');
    const p = problem({spatial: [6, 7], kernelSize: [3, 3], headDim: 8});
    const x = inputs(p, 3);
    const s = shapes(p);
    const [q, k, v] = [tf.tensor(x.q, s.q), tf.tensor(x.k, s.k), tf.tensor(x.v, s.v)];
    const out = na2d(q, k, v, {kernelSize: 3});
    const direct = naForwardNative(infoOf(p), x.q, x.k, x.v, null, null, null)!;
    expect(Array.from(out.dataSync())).toEqual(Array.from(direct.output));
    tf.dispose([q, k, v, out]);
  });
});
