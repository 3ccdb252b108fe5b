/**
 * The WebAssembly SIMD path of the fused CPU kernels (src/kernels/cpu/na_wasm.ts), tested directly: the
 * modules compile in Node for every head dim up to 128 (so the `cpu` suites really run them), the
 * generated exp against Math.exp, forward and backward against the float64 reference on awkward problems,
 * and the memory kept between calls. The suites of every other file run this path as the `cpu` backend.
 */
import * as tf from '@tensorflow/tfjs';
import {cpuKernelPath, NATTEN_CPU_CODEGEN, NATTEN_CPU_NATIVE, NATTEN_CPU_WASM} from '../src/index';
import {getNAWasmModule, emitExp, MAX_WASM_DIM, naBackwardWasm, naForwardWasm, naWasmMemoryBytes}
  from '../src/kernels/cpu/na_wasm';
import {buildModule, FuncBuilder, ValType} from '../src/kernels/cpu/wasm_builder';
import {problem} from './problems';
import {refBackward, RefProblem, refForward} from './reference';
import {gradInputs, qkvInfoOf} from './kernel_inputs';
import {expectClose, farKeyColumn} from './util';

const infoOf = qkvInfoOf;


const inputs = gradInputs;

describe('WebAssembly SIMD kernels', () => {
  test('modules compile for every head dim pair we spot-check up to 128, and not above', () => {
    for (const [D, Dv] of [[1, 1], [2, 3], [3, 5], [4, 4], [5, 8], [7, 9], [16, 16], [32, 32], [33, 17], [64, 64],
                           [128, 128], [128, 1]]) {
      expect(getNAWasmModule(D, Dv)).not.toBeNull();
    }
    expect(getNAWasmModule(MAX_WASM_DIM + 1, 4)).toBeNull();
    expect(getNAWasmModule(4, MAX_WASM_DIM + 1)).toBeNull();
  });

  test('the generated exp is within 3 float32 ulp of Math.exp on [-87, 88], 0 below, NaN for NaN', () => {
    const f = new FuncBuilder([ValType.F32], [ValType.F32]);
    emitExp(f, 0, f.local(ValType.F32));
    const mod = new WebAssembly.Module(buildModule({exp: f}));
    const memory = new WebAssembly.Memory({initial: 1});
    const exp = (new WebAssembly.Instance(mod, {env: {memory}}).exports as {exp(x: number): number}).exp;
    let worst = 0;
    for (let x = -87; x <= 88; x += 0.0137) {
      const xf = Math.fround(x);
      const want = Math.exp(xf);
      const ulp = 2 ** (Math.floor(Math.log2(want)) - 23);
      worst = Math.max(worst, Math.abs(exp(xf) - want) / ulp);
    }
    expect(worst).toBeLessThanOrEqual(3);
    expect(exp(0)).toBe(1);
    expect(exp(-87)).toBeGreaterThan(1e-38);
    expect(exp(Math.fround(-87.01))).toBe(0);
    expect(exp(-1000)).toBe(0);
    expect(exp(-Infinity)).toBe(0);
    expect(exp(NaN)).toBeNaN();
  });

  const cases: Array<[string, RefProblem]> = [
    ['1-D causal, dilation 2 on L 9, even kernel, GQA 2:1, head dims 5/3, rpb, 2 extra tokens',
     problem({spatial: [9], kernelSize: [4], dilation: [2], isCausal: [true], heads: 2, headsKv: 1, headDim: 5,
              headDimV: 3, hasRpb: true, nExtra: 2, batch: 2})],
    ['2-D kernel = length on axis 0, stride 2, causal axis 1, head dim 8, rpb',
     problem({spatial: [5, 6], kernelSize: [5, 3], stride: [2, 1], isCausal: [false, true], headDim: 8,
              hasRpb: true})],
    ['3-D dilation, head dims 12/7, 3 extra tokens, MQA 4:1',
     problem({spatial: [4, 3, 6], kernelSize: [2, 3, 3], dilation: [1, 1, 2], heads: 4, headsKv: 1, headDim: 12,
              headDimV: 7, nExtra: 3})],
    ['2-D head dim 33 (8 SIMD groups and a tail of 1), all causal, rpb, 1 extra',
     problem({spatial: [6, 7], kernelSize: [3, 5], isCausal: [true, true], headDim: 33, headDimV: 17,
              hasRpb: true, nExtra: 1})],
  ];

  for (const [title, p] of cases) {
    test(`${title}: forward and backward match the float64 reference`, () => {
      const x = inputs(p, 17);
      const info = infoOf(p);
      const fwd = naForwardWasm(info, x.q, x.k, x.v, x.rpb ?? null, x.addK ?? null, x.addV ?? null)!;
      expect(fwd).not.toBeNull();
      const ref = refForward(p, x);
      expectClose(fwd.output, ref.out, 1e-5, 'output');
      expectClose(fwd.lse, ref.lse, 1e-5, 'logsumexp');
      const bwd = naBackwardWasm(info, x.q, x.k, x.v, fwd.output, fwd.lse, x.dOut, x.dLse, x.rpb ?? null,
                                 x.addK ?? null, x.addV ?? null)!;
      const g = refBackward(p, x, x.dOut, x.dLse);
      expectClose(bwd.dQuery, g.dq, 1e-5, 'dq');
      expectClose(bwd.dKey, g.dk, 1e-5, 'dk');
      expectClose(bwd.dValue, g.dv, 1e-5, 'dv');
      if (p.hasRpb) {
        expectClose(bwd.dRpb!, g.drpb, 1e-5, 'drpb');
      }
      if (p.nExtra > 0) {
        expectClose(bwd.dAdditionalKeys!, g.daddK, 1e-5, 'dAdditionalKeys');
        expectClose(bwd.dAdditionalValues!, g.daddV, 1e-5, 'dAdditionalValues');
      }
    });
  }

  test('a key in a query\'s window but far below its largest weighs nothing, forward and backward (exp is 0 ' +
       'below its range)', () => {
    // Column 6's keys score about 120 below the rest and hold 1e38 values (farKeyColumn); a weight of exp(-87),
    // the floor exp once had, moved the outputs of the queries that see them by about 1.
    const p = problem({spatial: [5, 9], kernelSize: [3, 5], headDim: 16});
    const x = inputs(p, 29);
    farKeyColumn(p, x, 6);
    const info = infoOf(p);
    const fwd = naForwardWasm(info, x.q, x.k, x.v, null, null, null)!;
    const ref = refForward(p, x);
    expectClose(fwd.output, ref.out, 1e-5, 'output');
    expectClose(fwd.lse, ref.lse, 1e-5, 'logsumexp');
    const bwd = naBackwardWasm(info, x.q, x.k, x.v, fwd.output, fwd.lse, x.dOut, x.dLse, null, null, null)!;
    const g = refBackward(p, x, x.dOut, x.dLse);
    expectClose(bwd.dQuery, g.dq, 1e-5, 'dq');
    expectClose(bwd.dKey, g.dk, 1e-5, 'dk');
    expectClose(bwd.dValue, g.dv, 1e-5, 'dv');
  });

  test('memory is kept between calls and grown on demand; results do not depend on what ran before', () => {
    const small = problem({spatial: [5, 6], kernelSize: [3, 3], hasRpb: true, headDim: 8});
    const large = problem({spatial: [40, 40], kernelSize: [5, 5], heads: 4, headsKv: 4, headDim: 16});
    const xs = inputs(small, 3), xl = inputs(large, 4);
    const run = (p: RefProblem, x: typeof xs) => {
      const info = infoOf(p);
      const f = naForwardWasm(info, x.q, x.k, x.v, x.rpb ?? null, null, null)!;
      const b = naBackwardWasm(info, x.q, x.k, x.v, f.output, f.lse, x.dOut, null, x.rpb ?? null, null, null)!;
      return [f.output, f.lse, b.dQuery, b.dKey, b.dValue, ...(b.dRpb ? [b.dRpb] : [])];
    };
    const first = run(small, xs);
    const before = naWasmMemoryBytes();
    expect(before).toBeGreaterThan(0);
    run(large, xl);
    expect(naWasmMemoryBytes()).toBeGreaterThan(before);
    const again = run(small, xs);  // stale data from the large call must not leak into the gradients
    again.forEach((a, i) => expect(Array.from(a)).toEqual(Array.from(first[i])));
  });
});

describe('WebAssembly SIMD kernels: fallback', () => {
  test('where compilation is refused, the kernels return null and the fused ops run the JS row kernels', () => {
    const p = problem({spatial: [5, 6], kernelSize: [3, 3], hasRpb: true, headDim: 8});
    const x = inputs(p, 5);
    const original = WebAssembly.Module;
    let refused = 0;
    jest.isolateModules(() => {
      (WebAssembly as {Module: unknown}).Module = function refuse() {
        refused++;
        throw new RangeError('WebAssembly.Module(): sync compilation refused (simulated)');
      };
      try {
        const wasm = require('../src/kernels/cpu/na_wasm') as typeof import('../src/kernels/cpu/na_wasm');
        const impl = require('../src/kernels/cpu/na_impl') as typeof import('../src/kernels/cpu/na_impl');
        const info = infoOf(p);
        expect(wasm.getNAWasmModule(8, 8)).toBeNull();
        expect(wasm.naForwardWasm(info, x.q, x.k, x.v, x.rpb!, null, null)).toBeNull();
        const fwd = impl.naForwardImpl(info, x.q, x.k, x.v, x.rpb!, null, null, 'wasm');
        const ref = refForward(p, x);
        expectClose(fwd.output, ref.out, 1e-5, 'output');
        const bwd = impl.naBackwardImpl(info, x.q, x.k, x.v, fwd.output, fwd.lse, x.dOut, null, x.rpb!, null, null,
                                        'wasm');
        expectClose(bwd.dQuery, refBackward(p, x, x.dOut).dq, 1e-5, 'dq');
      } finally {
        (WebAssembly as {Module: unknown}).Module = original;
      }
    });
    expect(refused).toBe(1);  // tried once, then remembered
  });
});

describe('cpuKernelPath: what the fused CPU kernels run here', () => {
  afterEach(() => {
    tf.env().set(NATTEN_CPU_NATIVE, true);
    tf.env().set(NATTEN_CPU_WASM, true);
    tf.env().set(NATTEN_CPU_CODEGEN, true);
  });

  test('native in Node (the natten_cpu addon, any head dims); WebAssembly with NATTEN_CPU_NATIVE off; JS row ' +
       'kernels with NATTEN_CPU_WASM off; generic loops with NATTEN_CPU_CODEGEN off or head dims over 128', () => {
    expect(cpuKernelPath(16)).toBe('native');
    expect(cpuKernelPath(MAX_WASM_DIM + 1, 16)).toBe('native');
    tf.env().set(NATTEN_CPU_NATIVE, false);
    expect(cpuKernelPath(16)).toBe('wasm');
    expect(cpuKernelPath(16, 8)).toBe('wasm');
    expect(cpuKernelPath(MAX_WASM_DIM + 1, 16)).toBe('generic');
    tf.env().set(NATTEN_CPU_WASM, false);
    expect(cpuKernelPath(16)).toBe('codegen');
    tf.env().set(NATTEN_CPU_CODEGEN, false);
    expect(cpuKernelPath(16)).toBe('generic');
  });
});
