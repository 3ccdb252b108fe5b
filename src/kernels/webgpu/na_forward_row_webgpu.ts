/**
 * Fused NA forward, row version: one thread per (batch, query, head) walks its window (then the extra
 * tokens) with an online softmax in registers, reading key and value rows from global memory. Exact work:
 * the choice for small windows and small head dims. Output packed like the tiled forward:
 * `[output | logsumexp]`.
 *
 * Online softmax with a lazy rescale: the weights are taken relative to a reference `m` that moves (rescaling
 * the accumulator) only when a score exceeds it by more than RESCALE_MARGIN, which after the first key is
 * rare. Per key that is headDim + headDimV FMAs and one exp. (Blocks of keys with one rescale each would do
 * as well on a GPU, but unrolled blocks take the software adapter's LLVM a minute per program.)
 */
import {GEOMETRY_WGSL, NAProgram, RESCALE_MARGIN} from './program_util';
import {dotRows, loadRow, ROW_THREADS, rowComponents, RowDims, rowDimsKey, rowPrelude, RowReader, unroll} from './row_wgsl';

export class NAForwardRowProgram extends NAProgram {
  variableComponents: number[];

  constructor(private dims: RowDims, private hasRpb: boolean, private hasExtra: boolean,
              outputSize: number, rows: number, maxPerDimension: number) {
    super('forward_row', `${rowDimsKey(dims)}_${hasRpb ? 'rpb' : ''}_${hasExtra ? 'extra' : ''}`,
          ['query', 'key', 'value', ...(hasRpb ? ['rpb'] : []), ...(hasExtra ? ['extras'] : [])], outputSize,
          Math.ceil(rows / ROW_THREADS), ROW_THREADS, maxPerDimension);
    this.variableComponents = rowComponents(dims, this.variableNames);
  }

  /**
   * Statements for the key at row `kRow` (rows of headsKv heads) of `keys` / `values` (values at `valueOffset`
   * floats), with bias `bias` (a WGSL expression, or '').
   */
  private keyCode(keys: string, values: string, valueOffset: string, bias: string): string {
    const {dk, dv} = this.dims;
    const kr = new RowReader(this.dims, 'uniforms.headDim', dk);
    const vr = new RowReader(this.dims, 'uniforms.headDimV', dv);
    return `
        let kb = ${kr.offset('kRow')};
        let s = ${dotRows(dk / 4, c => `q${c}`, c => kr.chunk(keys, 'kb', c))} * uniforms.scale${bias};
        if (s > m + RESCALE_MARGIN) {
          let r = exp(m - s);
          l *= r;
${unroll(dv / 4, c => `          acc${c} *= r;`)}
          m = s;
        }
        let p = exp(s - m);
        l += p;
        let vb = ${vr.offset('kRow', valueOffset)};
${unroll(dv / 4, c => `        acc${c} = fma(vec4<f32>(p), ${vr.chunk(values, 'vb', c)}, acc${c});`)}`;
  }

  getUserCode(): string {
    const {dk, dv} = this.dims;
    const qr = new RowReader(this.dims, 'uniforms.headDim', dk);
    const vr = new RowReader(this.dims, 'uniforms.headDimV', dv);
    const extra = this.hasExtra ? `
  // The extra tokens: rows (b * nExtra + x) * headsKv + hk, never masked, no bias.
  for (var x = 0; x < uniforms.nExtra; x++) {
    let kRow = (b * uniforms.nExtra + x) * uniforms.headsKv + hk;
    {${this.keyCode('extras', 'extras', 'extraValuesOffset()', '')}
    }
  }` : '';
    return `
${rowPrelude(this.dims)}
${GEOMETRY_WGSL}
const RESCALE_MARGIN = ${RESCALE_MARGIN.toFixed(1)};

fn main(index : i32) {
  let row = rowIndex();
  if (row >= uniforms.batch * uniforms.numTokens * uniforms.heads) {
    return;
  }
  let h = row % uniforms.heads;
  let token = (row / uniforms.heads) % uniforms.numTokens;
  let b = row / (uniforms.heads * uniforms.numTokens);
  let hk = h / uniforms.headsPerKv;
  let qb = ${qr.offset('row')};
${loadRow(qr, dk / 4, 'q', 'query', 'qb')}
${unroll(dv / 4, c => `  var acc${c} = vec4<f32>(0.0);`)}
  var m = NEG;
  var l = 0.0;
  let win = windowOf(token);
  let dil = uniforms.dilation.xyz;
  // Consecutive slots along the last axis are dil.z tokens apart: dil.z * headsKv key rows.
  let step = dil.z * uniforms.headsKv;
  for (var t0 = 0; t0 < win.count.x; t0++) {
    for (var t1 = 0; t1 < win.count.y; t1++) {
      let rowFirst = (b * uniforms.numTokens + tokenOf(win.first + dil * vec3<i32>(t0, t1, 0))) * uniforms.headsKv + hk;
      ${this.hasRpb ? 'let biasFirst = rpbOffset(h, win.rpbBase + vec3<i32>(t0, t1, 0));' : ''}
      for (var t2 = 0; t2 < win.count.z; t2++) {
        let kRow = rowFirst + t2 * step;
        {${this.keyCode('key', 'value', '', this.hasRpb ? ' + rpb[biasFirst + t2]' : '')}
        }
      }
    }
  }${extra}
  let inv = 1.0 / l;
  ${vr.store('row', 'acc', 'inv')}
  result[uniforms.batch * uniforms.numTokens * uniforms.heads * uniforms.headDimV + row] = m + log(l);
}
`;
  }
}
