/**
 * Fused NA backward, row versions (see row_wgsl.ts): weights recomputed from the saved logsumexp, per thread,
 * nothing of size tokens x K stored, no atomics.
 * - `query`: one thread per (batch, query, head): `dq = scale * sum dS k` over its window and the extra tokens;
 *   output dq.
 * - `key`: one thread per (batch, key, kv head): walks the queries of its inverse window (every head of its
 *   GQA group): `dk = scale * sum dS q`, `dv = sum p dO`; output packed `[dk | dv]`.
 * - `extra`: the same for each extra token (batch, token, kv head) over every query; output `[dk | dv]`.
 * Here `p = exp(s - lse)` and `dS = p (dO . v - delta)`, with (lse, delta) read from `stats`. The other side's
 * rows (key rows for dq; query and dO rows for dk/dv) are read again for the accumulation instead of being held
 * through the dot products: fewer live registers (the H200 ran the held version ~40x slower than the forward).
 */
import {GEOMETRY_WGSL, NAProgram} from './program_util';
import {dotRows, loadRow, ROW_THREADS, rowComponents, RowDims, rowDimsKey, rowPrelude, RowReader, unroll} from './row_wgsl';

export type RowBackwardKind = 'query' | 'key' | 'extra';

function inputsOf(kind: RowBackwardKind, hasRpb: boolean, hasExtra: boolean): string[] {
  if (kind === 'extra') {
    return ['query', 'dOut', 'stats', 'extras'];
  }
  return ['query', 'key', 'value', 'dOut', 'stats', ...(hasRpb ? ['rpb'] : []),
          ...(kind === 'query' && hasExtra ? ['extras'] : [])];
}

export class NABackwardRowProgram extends NAProgram {
  variableComponents: number[];

  constructor(private kind: RowBackwardKind, private dims: RowDims, private hasRpb: boolean,
              private hasExtra: boolean, outputSize: number, rows: number, maxPerDimension: number) {
    super(`backward_row_${kind}`, `${rowDimsKey(dims)}_${hasRpb ? 'rpb' : ''}_${hasExtra ? 'extra' : ''}`,
          inputsOf(kind, hasRpb, hasExtra), outputSize, Math.ceil(rows / ROW_THREADS), ROW_THREADS,
          maxPerDimension);
    this.variableComponents = rowComponents(dims, this.variableNames);
  }

  private readers(): [RowReader, RowReader] {
    return [new RowReader(this.dims, 'uniforms.headDim', this.dims.dk),
            new RowReader(this.dims, 'uniforms.headDimV', this.dims.dv)];
  }

  getUserCode(): string {
    return `
${rowPrelude(this.dims)}
${GEOMETRY_WGSL}
${this.kind === 'query' ? this.queryCode() : this.keyCode()}
`;
  }

  /** Statements for one key at row `kRowExpr` of `keys`/`values` (values at `valueOffset` floats). */
  private queryTerm(keys: string, values: string, valueOffset: string, bias: string): string {
    const [kr, vr] = this.readers();
    const ck = this.dims.dk / 4, cv = this.dims.dv / 4;
    return `
        let kb = ${kr.offset('kRow')};
        let s = ${dotRows(ck, c => `q${c}`, c => kr.chunk(keys, 'kb', c))} * uniforms.scale${bias};
        let vb = ${vr.offset('kRow', valueOffset)};
        let dp = ${dotRows(cv, c => `dO${c}`, c => vr.chunk(values, 'vb', c))};
        let ds = exp(s - lse) * (dp - delta);
${unroll(ck, c => `        dq${c} = fma(vec4<f32>(ds), ${kr.chunk(keys, 'kb', c)}, dq${c});`)}`;
  }

  private queryCode(): string {
    const [qr, vr] = this.readers();
    const ck = this.dims.dk / 4, cv = this.dims.dv / 4;
    const extra = this.hasExtra ? `
  for (var x = 0; x < uniforms.nExtra; x++) {
    let kRow = (b * uniforms.nExtra + x) * uniforms.headsKv + hk;
    {${this.queryTerm('extras', 'extras', 'extraValuesOffset()', '')}
    }
  }` : '';
    return `
fn main(index : i32) {
  let row = rowIndex();
  if (row >= uniforms.batch * uniforms.numTokens * uniforms.heads) {
    return;
  }
  let h = row % uniforms.heads;
  let token = (row / uniforms.heads) % uniforms.numTokens;
  let b = row / (uniforms.heads * uniforms.numTokens);
  let hk = h / uniforms.headsPerKv;
  let st = stats[row];
  let lse = st.x;
  let delta = st.y;
  let qb = ${qr.offset('row')};
${loadRow(qr, ck, 'q', 'query', 'qb')}
  let ob = ${vr.offset('row')};
${loadRow(vr, cv, 'dO', 'dOut', 'ob')}
${unroll(ck, c => `  var dq${c} = vec4<f32>(0.0);`)}
  let win = windowOf(token);
  let dil = uniforms.dilation.xyz;
  let step = dil.z * uniforms.headsKv;
  for (var t0 = 0; t0 < win.count.x; t0++) {
    for (var t1 = 0; t1 < win.count.y; t1++) {
      let rowFirst = (b * uniforms.numTokens + tokenOf(win.first + dil * vec3<i32>(t0, t1, 0))) * uniforms.headsKv + hk;
      ${this.hasRpb ? 'let biasFirst = rpbOffset(h, win.rpbBase + vec3<i32>(t0, t1, 0));' : ''}
      for (var t2 = 0; t2 < win.count.z; t2++) {
        let kRow = rowFirst + t2 * step;
        {${this.queryTerm('key', 'value', '', this.hasRpb ? ' + rpb[biasFirst + t2]' : '')}
        }
      }
    }
  }${extra}
  ${qr.store('row', 'dq', 'uniforms.scale')}
}
`;
  }

  private keyCode(): string {
    const extra = this.kind === 'extra';
    const [kr, vr] = this.readers();
    const ck = this.dims.dk / 4, cv = this.dims.dv / 4;
    const rows = extra ? 'uniforms.nExtra' : 'uniforms.numTokens';
    const keys = extra ? 'extras' : 'key', values = extra ? 'extras' : 'value';
    // The queries that see this key: its inverse window (box keys), or every token (extra tokens).
    const loops = extra ? `
  for (var qt = 0; qt < uniforms.numTokens; qt++) {
    {
      {` : `
  let j = coordsOf(token);
  let inv = inverseWindowOf(token);
  let dil = uniforms.dilation.xyz;
  // rpb index of the query at inverse-window position u: (j - i) / dil + kernel - 1 = rb - u.
  let rb = (j - inv.first) / dil + uniforms.kernel.xyz - vec3<i32>(1);
  for (var u0 = 0; u0 < inv.count.x; u0++) {
    for (var u1 = 0; u1 < inv.count.y; u1++) {
      let qFirst = tokenOf(inv.first + dil * vec3<i32>(u0, u1, 0));
      for (var u2 = 0; u2 < inv.count.z; u2++) {
        let qt = qFirst + u2 * dil.z;`;
    const bias = this.hasRpb && !extra ? ' + rpb[rpbOffset(h, rb - vec3<i32>(u0, u1, u2))]' : '';
    return `
fn main(index : i32) {
  let row = rowIndex();
  if (row >= uniforms.batch * ${rows} * uniforms.headsKv) {
    return;
  }
  let hk = row % uniforms.headsKv;
  let token = (row / uniforms.headsKv) % ${rows};
  let b = row / (uniforms.headsKv * ${rows});
  let kb = ${kr.offset('row')};
${loadRow(kr, ck, 'k', keys, 'kb')}
  let vb = ${vr.offset('row', extra ? 'extraValuesOffset()' : '')};
${loadRow(vr, cv, 'v', values, 'vb')}
${unroll(ck, c => `  var dk${c} = vec4<f32>(0.0);`)}
${unroll(cv, c => `  var dv${c} = vec4<f32>(0.0);`)}${loops}
        for (var hh = 0; hh < uniforms.headsPerKv; hh++) {
          let h = hk * uniforms.headsPerKv + hh;
          let qRow = (b * uniforms.numTokens + qt) * uniforms.heads + h;
          let qb = ${kr.offset('qRow')};
          let s = ${dotRows(ck, c => kr.chunk('query', 'qb', c), c => `k${c}`)} * uniforms.scale${bias};
          let ob = ${vr.offset('qRow')};
          let dp = ${dotRows(cv, c => vr.chunk('dOut', 'ob', c), c => `v${c}`)};
          let st = stats[qRow];
          let p = exp(s - st.x);
          let ds = p * (dp - st.y);
${unroll(ck, c => `          dk${c} = fma(vec4<f32>(ds), ${kr.chunk('query', 'qb', c)}, dk${c});`)}
${unroll(cv, c => `          dv${c} = fma(vec4<f32>(p), ${vr.chunk('dOut', 'ob', c)}, dv${c});`)}
        }
      }
    }
  }
  let rowsTotal = uniforms.batch * ${rows} * uniforms.headsKv;
  ${kr.store('row', 'dk', 'uniforms.scale')}
  ${vr.store('row', 'dv', '', 'rowsTotal * uniforms.headDim')}
}
`;
  }
}
