/**
 * WGSL shared by the row programs: one thread per row (a query, a key, or an extra token, with its head),
 * walking that row's own window or inverse window straight from the index math. No workgroup memory and no
 * barriers: exact work for small windows, and programs the software adapter compiles in well under a second
 * (the tiled programs' barriers cost its LLVM JIT tens of seconds per pipeline).
 *
 * Registers, not local memory: a row's vectors (its query, accumulators, ...) are named vec4 variables
 * (`q0, q1, ...`), and every loop over the head dim is written out by the generator (`RowDims`: the head dims
 * rounded up to a multiple of 4, baked into the WGSL and the shaderKey). No array is ever indexed by a value
 * the compiler cannot see, so nothing spills to the stack however the driver unrolls. Where both head dims are
 * multiples of 4, the rows are read as vec4 (the buffers bound as `array<vec4<f32>>`); otherwise element by
 * element, each element past the exact head dim (a uniform) read as 0.
 */
export const ROW_THREADS = 64;
export const NEG = -1.0e30;

/** What a row program bakes in about the head dims. */
export interface RowDims {
  /** Head dims rounded up to a multiple of 4: the number of components of the per-thread vectors. */
  dk: number;
  dv: number;
  /** Both exact head dims are multiples of 4 (then dk and dv are exact): rows are read as vec4. */
  vec4: boolean;
}

export function rowDims(headDim: number, headDimV: number): RowDims {
  const up4 = (d: number) => Math.max(4, Math.ceil(d / 4) * 4);
  return {dk: up4(headDim), dv: up4(headDimV), vec4: headDim % 4 === 0 && headDimV % 4 === 0};
}

export function rowDimsKey(d: RowDims): string {
  return `d${d.dk}_${d.dv}${d.vec4 ? 'v4' : 's'}`;
}

/** Binding components of the inputs: 4 for the row buffers in vec4 mode, 2 for `stats`, 1 otherwise. */
export function rowComponents(d: RowDims, names: string[], scalar: string[] = ['rpb']): number[] {
  return names.map(n => (n === 'stats' ? 2 : scalar.includes(n) || !d.vec4 ? 1 : 4));
}

/** `f(i)` for i < n, joined by `sep`. */
export function unroll(n: number, f: (i: number) => string, sep = '\n'): string {
  return Array.from({length: n}, (_, i) => f(i)).join(sep);
}

/**
 * Reading rows of one buffer into vec4 chunks. `base` is a WGSL expression for the row's first element in the
 * buffer's own units (vec4 or f32: `offset(row)` makes it), `dim` the WGSL expression of the exact head dim
 * (scalar mode only).
 */
export class RowReader {
  constructor(private d: RowDims, private dimExpr: string, private dimBaked: number) {}

  /** WGSL expression: the first element of row `rowExpr` (plus `extraFloats` floats) in buffer units. */
  offset(rowExpr: string, extraFloats = ''): string {
    if (this.d.vec4) {
      return `(${rowExpr}) * ${this.dimBaked / 4}${extraFloats ? ` + (${extraFloats}) / 4` : ''}`;
    }
    return `(${rowExpr}) * ${this.dimExpr}${extraFloats ? ` + ${extraFloats}` : ''}`;
  }

  /** WGSL expression: chunk c (elements 4c..4c+3) of the row starting at `base` in buffer `buf`. */
  chunk(buf: string, base: string, c: number): string {
    if (this.d.vec4) {
      return `${buf}[${base} + ${c}]`;
    }
    const e = (i: number) => {
      const el = 4 * c + i;
      return `select(0.0, ${buf}[${base} + min(${el}, ${this.dimExpr} - 1)], ${el} < ${this.dimExpr})`;
    };
    return `vec4<f32>(${e(0)}, ${e(1)}, ${e(2)}, ${e(3)})`;
  }

  /** Statements writing `scale * name0..` (vec4 variables) as row `rowExpr` of `result` (f32), exact dim. */
  store(rowExpr: string, name: string, scale: string, offsetExpr = ''): string {
    const chunks = this.dimBaked / 4;
    return `{
    let ob = ${offsetExpr ? `${offsetExpr} + ` : ''}(${rowExpr}) * ${this.dimExpr};
${unroll(chunks, c => {
      const v = `${name}${c}${scale ? ` * ${scale}` : ''}`;
      return unroll(4, i => {
        const el = 4 * c + i;
        const write = `result[ob + ${el}] = (${v})[${i}];`;
        return this.d.vec4 ? `    ${write}` : `    if (${el} < ${this.dimExpr}) { ${write} }`;
      });
    })}
  }`;
  }
}

/** Constants and helpers of every row program. */
export function rowPrelude(d: RowDims): string {
  return `
const DK4 = ${d.dk / 4};
const DV4 = ${d.dv / 4};
const NEG = ${NEG.toExponential()};

fn rowIndex() -> i32 {
  return workgroupIndex() * ${ROW_THREADS} + i32(localIndex);
}

// Offset of the extra values in the packed extras buffer, in floats.
fn extraValuesOffset() -> i32 {
  return uniforms.batch * uniforms.nExtra * uniforms.headsKv * uniforms.headDim;
}

fn sum4(v : vec4<f32>) -> f32 {
  return (v.x + v.y) + (v.z + v.w);
}
`;
}

/** Statements: `let ${name}${c} = chunk c of the row at base` for every chunk. */
export function loadRow(r: RowReader, chunks: number, name: string, buf: string, base: string, decl = 'let'):
    string {
  return unroll(chunks, c => `  ${decl} ${name}${c} = ${r.chunk(buf, base, c)};`);
}

/** WGSL expression: the dot product of the vec4 variables a0.. and b0.. (four independent chains). */
export function dotRows(chunks: number, a: (c: number) => string, b: (c: number) => string): string {
  let acc = `${a(0)} * ${b(0)}`;
  for (let c = 1; c < chunks; c++) {
    acc = `fma(${a(c)}, ${b(c)}, ${acc})`;
  }
  return `sum4(${acc})`;
}
