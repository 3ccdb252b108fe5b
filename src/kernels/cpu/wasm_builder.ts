/**
 * A small WebAssembly assembler: enough of the binary format (with 128-bit SIMD) to emit the CPU kernels'
 * row loops at run time, for one module per head-dim pair (na_wasm.ts). No tfjs imports.
 *
 * A module imports one memory (`env.memory`) and exports its functions by name. Function bodies are built
 * with `FuncBuilder`, whose methods append instructions in stack-machine order.
 */

export const ValType = {I32: 0x7f, F32: 0x7d, F64: 0x7c, V128: 0x7b} as const;
export type ValType = typeof ValType[keyof typeof ValType];

/** Opcodes used by the kernels (the core set; SIMD ones go through `FuncBuilder.simd`). */
export const Op = {
  Block: 0x02, Loop: 0x03, If: 0x04, Else: 0x05, End: 0x0b, Br: 0x0c, BrIf: 0x0d,
  LocalGet: 0x20, LocalSet: 0x21, LocalTee: 0x22,
  I32Load: 0x28, F32Load: 0x2a, F64Load: 0x2b, F32Store: 0x38, F64Store: 0x39,
  I32Const: 0x41, F32Const: 0x43,
  I32Eqz: 0x45, I32GeS: 0x4e, F32Ge: 0x60,
  I32Add: 0x6a, I32Mul: 0x6c, I32DivU: 0x6e, I32Shl: 0x74,
  F32Nearest: 0x90, F32Add: 0x92, F32Sub: 0x93, F32Mul: 0x94, F32Div: 0x95, F32Min: 0x96, F32Max: 0x97,
  F64Add: 0xa0,
  F32ConvertI32U: 0xb3, F64PromoteF32: 0xbb, F32ReinterpretI32: 0xbe,
} as const;
type OpCode = typeof Op[keyof typeof Op];

/** 128-bit SIMD opcodes (after the 0xfd prefix). */
export const SimdOp = {
  Load: 0x00, Store: 0x0b, F32x4Splat: 0x13, F32x4ExtractLane: 0x1f, F32x4Add: 0xe4, F32x4Mul: 0xe6,
} as const;
type SimdOpCode = typeof SimdOp[keyof typeof SimdOp];

function uleb(n: number, out: number[]): void {
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) {
      byte |= 0x80;
    }
    out.push(byte);
  } while (n !== 0);
}

function sleb(n: number, out: number[]): void {
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return;
    }
    out.push(byte | 0x80);
  }
}

const f32Scratch = new DataView(new ArrayBuffer(4));

function name(s: string, out: number[]): void {
  uleb(s.length, out);
  for (let i = 0; i < s.length; i++) {
    out.push(s.charCodeAt(i));
  }
}

/** Body of one function: params come first in the local index space, then `local()` allocations. */
export class FuncBuilder {
  readonly code: number[] = [];
  private readonly localTypes: ValType[] = [];

  constructor(readonly params: ValType[], readonly results: ValType[] = []) {}

  /** A new local of `type`; returns its index. */
  local(type: ValType): number {
    this.localTypes.push(type);
    return this.params.length + this.localTypes.length - 1;
  }

  op(...bytes: number[]): this {
    this.code.push(...bytes);
    return this;
  }

  get(i: number): this {
    return this.op(Op.LocalGet).u(i);
  }

  set(i: number): this {
    return this.op(Op.LocalSet).u(i);
  }

  tee(i: number): this {
    return this.op(Op.LocalTee).u(i);
  }

  i32(v: number): this {
    this.op(Op.I32Const);
    sleb(v | 0, this.code);
    return this;
  }

  f32(v: number): this {
    f32Scratch.setFloat32(0, v, true);
    return this.op(Op.F32Const, f32Scratch.getUint8(0), f32Scratch.getUint8(1), f32Scratch.getUint8(2),
                   f32Scratch.getUint8(3));
  }

  /** A load or store with its memory immediate: `align` as log2 bytes, a constant byte `offset`. */
  mem(op: OpCode, align: number, offset = 0): this {
    return this.op(op).u(align).u(offset);
  }

  /** `i32.trunc_sat_f32_s`: float to int without trapping (NaN gives 0, out of range saturates). */
  truncSatF32S(): this {
    return this.op(0xfc, 0x00);
  }

  simd(op: SimdOpCode): this {
    this.op(0xfd);
    uleb(op, this.code);
    return this;
  }

  /** `v128.load` / `v128.store` at `address + offset` (16-byte units are not required to be aligned). */
  simdMem(op: typeof SimdOp.Load | typeof SimdOp.Store, offset: number): this {
    return this.simd(op).u(4).u(offset);
  }

  extractLane(lane: number): this {
    return this.simd(SimdOp.F32x4ExtractLane).op(lane);
  }

  /** `block` / `loop` / `if` with no result. */
  begin(op: typeof Op.Block | typeof Op.Loop | typeof Op.If): this {
    return this.op(op, 0x40);
  }

  end(): this {
    return this.op(Op.End);
  }

  /** Unsigned LEB128 immediate. */
  u(n: number): this {
    uleb(n, this.code);
    return this;
  }

  /** The function's code-section entry. */
  encode(): number[] {
    const body: number[] = [];
    const groups: Array<[number, ValType]> = [];
    for (const t of this.localTypes) {
      if (groups.length > 0 && groups[groups.length - 1][1] === t) {
        groups[groups.length - 1][0]++;
      } else {
        groups.push([1, t]);
      }
    }
    uleb(groups.length, body);
    for (const [count, type] of groups) {
      uleb(count, body);
      body.push(type);
    }
    body.push(...this.code, Op.End);
    const out: number[] = [];
    uleb(body.length, out);
    return out.concat(body);
  }
}

function section(id: number, payload: number[], out: number[]): void {
  out.push(id);
  uleb(payload.length, out);
  out.push(...payload);
}

/** A module importing `env.memory` and exporting `funcs` under their names. */
export function buildModule(funcs: Record<string, FuncBuilder>): Uint8Array<ArrayBuffer> {
  const names = Object.keys(funcs);
  const out = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const types: number[] = [];
  uleb(names.length, types);
  for (const n of names) {
    const f = funcs[n];
    types.push(0x60);
    uleb(f.params.length, types);
    types.push(...f.params);
    uleb(f.results.length, types);
    types.push(...f.results);
  }
  section(1, types, out);
  const imports: number[] = [1];
  name('env', imports);
  name('memory', imports);
  imports.push(0x02, 0x00, 0x01);  // memory, limits: min 1 page, no max
  section(2, imports, out);
  const funcSection: number[] = [];
  uleb(names.length, funcSection);
  names.forEach((_, i) => uleb(i, funcSection));
  section(3, funcSection, out);
  const exports: number[] = [];
  uleb(names.length, exports);
  names.forEach((n, i) => {
    name(n, exports);
    exports.push(0x00);
    uleb(i, exports);
  });
  section(7, exports, out);
  const code: number[] = [];
  uleb(names.length, code);
  for (const n of names) {
    code.push(...funcs[n].encode());
  }
  section(10, code, out);
  return new Uint8Array(out);
}
