/**
 * Fused NA backward, row versions (see row_wgsl.ts): weights recomputed from the saved logsumexp, per thread,
 * nothing of size tokens x K stored, no atomics.
 * - `query`: one thread per (batch, query, head): `dq = scale * sum dS k` over its window and the extra tokens;
 *   output dq.
 * - `key`: one thread per (batch, key, kv head): walks the queries of its inverse window (every head of its
 *   GQA group): `dk = scale * sum dS q`, `dv = sum p dO`; output packed `[dk | dv]`.
 * - `extra`: the same for each extra token (batch, token, kv head) over every query; output `[dk | dv]`.
 * Here `p = exp(s - lse)` and `dS = p (dO . v - delta)`, with (lse, delta) read from `stats`.
 */
import {dimClass, GEOMETRY_WGSL, NAProgram} from './program_util';
import {ROW_THREADS, ROW_WGSL, rowConstants} from './row_wgsl';

export type RowBackwardKind = 'query' | 'key' | 'extra';

function inputsOf(kind: RowBackwardKind, hasRpb: boolean, hasExtra: boolean): string[] {
  if (kind === 'extra') {
    return ['query', 'dOut', 'stats', 'extras'];
  }
  return ['query', 'key', 'value', 'dOut', 'stats', ...(hasRpb ? ['rpb'] : []),
          ...(kind === 'query' && hasExtra ? ['extras'] : [])];
}

export class NABackwardRowProgram extends NAProgram {
  constructor(private kind: RowBackwardKind, private headDim: number, private headDimV: number,
              private hasRpb: boolean, private hasExtra: boolean, outputSize: number, rows: number,
              maxPerDimension: number) {
    super(`backward_row_${kind}`,
          `d${dimClass(headDim)}_${dimClass(headDimV)}_${hasRpb ? 'rpb' : ''}_${hasExtra ? 'extra' : ''}`,
          inputsOf(kind, hasRpb, hasExtra), outputSize, Math.ceil(rows / ROW_THREADS), ROW_THREADS,
          maxPerDimension);
  }

  getUserCode(): string {
    return `
${rowConstants(dimClass(this.headDim), dimClass(this.headDimV))}
${GEOMETRY_WGSL}
${ROW_WGSL}
${this.kind === 'query' ? this.queryCode() : this.keyCode()}
`;
  }

  private queryCode(): string {
    const extra = this.hasExtra ? `
  for (var x = 0; x < uniforms.nExtra; x++) {
    let kRow = (b * uniforms.nExtra + x) * uniforms.headsKv + hk;
    var s = 0.0;
    for (var c = 0; c < D; c++) {
      s = fma(q[c], extras[kRow * D + c], s);
    }
    var dp = 0.0;
    for (var c = 0; c < Dv; c++) {
      dp = fma(dO[c], extras[extraValuesOffset() + kRow * Dv + c], dp);
    }
    let ds = exp(s * uniforms.scale - lse) * (dp - delta);
    for (var c = 0; c < D; c++) {
      dq[c] = fma(ds, extras[kRow * D + c], dq[c]);
    }
  }` : '';
    return `
fn main(index : i32) {
  let row = rowIndex();
  if (row >= uniforms.batch * uniforms.numTokens * uniforms.heads) {
    return;
  }
  let D = uniforms.headDim;
  let Dv = uniforms.headDimV;
  let h = row % uniforms.heads;
  let token = (row / uniforms.heads) % uniforms.numTokens;
  let b = row / (uniforms.heads * uniforms.numTokens);
  let hk = h / uniforms.headsPerKv;
  let lse = stats[2 * row];
  let delta = stats[2 * row + 1];
  var q : array<f32, DK>;
  var dq : array<f32, DK>;
  for (var c = 0; c < DK; c++) {
    q[c] = select(0.0, query[row * D + min(c, D - 1)], c < D);
    dq[c] = 0.0;
  }
  var dO : array<f32, DV>;
  for (var c = 0; c < DV; c++) {
    dO[c] = select(0.0, dOut[row * Dv + min(c, Dv - 1)], c < Dv);
  }
  let win = windowOf(token);
  for (var t0 = 0; t0 < win.count.x; t0++) {
    for (var t1 = 0; t1 < win.count.y; t1++) {
      for (var t2 = 0; t2 < win.count.z; t2++) {
        let t = vec3<i32>(t0, t1, t2);
        let kRow = (b * uniforms.numTokens + tokenOf(win.first + uniforms.dilation.xyz * t)) * uniforms.headsKv + hk;
        var s = 0.0;
        for (var c = 0; c < D; c++) {
          s = fma(q[c], key[kRow * D + c], s);
        }
        s = s * uniforms.scale${this.hasRpb ? ' + rpb[rpbOffset(h, win.rpbBase + t)]' : ''};
        var dp = 0.0;
        for (var c = 0; c < Dv; c++) {
          dp = fma(dO[c], value[kRow * Dv + c], dp);
        }
        let ds = exp(s - lse) * (dp - delta);
        for (var c = 0; c < D; c++) {
          dq[c] = fma(ds, key[kRow * D + c], dq[c]);
        }
      }
    }
  }${extra}
  for (var c = 0; c < D; c++) {
    result[row * D + c] = dq[c] * uniforms.scale;
  }
}
`;
  }

  private keyCode(): string {
    const extra = this.kind === 'extra';
    const rows = extra ? 'uniforms.nExtra' : 'uniforms.numTokens';
    const kLoad = extra ? 'extras[kRow * D + min(c, D - 1)]' : 'key[kRow * D + min(c, D - 1)]';
    const vLoad = extra ? 'extras[extraValuesOffset() + kRow * Dv + min(c, Dv - 1)]' : 'value[kRow * Dv + min(c, Dv - 1)]';
    // The queries that see this key: its inverse window (box keys), or every token (extra tokens).
    const loops = extra ? `
  for (var qt = 0; qt < uniforms.numTokens; qt++) {
    {
      {` : `
  let j = coordsOf(token);
  let inv = inverseWindowOf(token);
  for (var u0 = 0; u0 < inv.count.x; u0++) {
    for (var u1 = 0; u1 < inv.count.y; u1++) {
      for (var u2 = 0; u2 < inv.count.z; u2++) {
        let qt = tokenOf(inv.first + uniforms.dilation.xyz * vec3<i32>(u0, u1, u2));
        ${this.hasRpb ? 'let qw = windowOf(qt);\n        let bias = rpbOffset(0, qw.rpbBase + (j - qw.first) / uniforms.dilation.xyz);' : ''}`;
    return `
fn rpbVolume() -> i32 {
  return uniforms.rpbDims.x * uniforms.rpbDims.y * uniforms.rpbDims.z;
}
fn main(index : i32) {
  let row = rowIndex();
  if (row >= uniforms.batch * ${rows} * uniforms.headsKv) {
    return;
  }
  let D = uniforms.headDim;
  let Dv = uniforms.headDimV;
  let hk = row % uniforms.headsKv;
  let token = (row / uniforms.headsKv) % ${rows};
  let b = row / (uniforms.headsKv * ${rows});
  let kRow = row;
  var k : array<f32, DK>;
  var dk : array<f32, DK>;
  for (var c = 0; c < DK; c++) {
    k[c] = select(0.0, ${kLoad}, c < D);
    dk[c] = 0.0;
  }
  var v : array<f32, DV>;
  var dv : array<f32, DV>;
  for (var c = 0; c < DV; c++) {
    v[c] = select(0.0, ${vLoad}, c < Dv);
    dv[c] = 0.0;
  }${loops}
        for (var hh = 0; hh < uniforms.headsPerKv; hh++) {
          let h = hk * uniforms.headsPerKv + hh;
          let qRow = (b * uniforms.numTokens + qt) * uniforms.heads + h;
          var s = 0.0;
          for (var c = 0; c < D; c++) {
            s = fma(query[qRow * D + c], k[c], s);
          }
          s = s * uniforms.scale${this.hasRpb && !extra ? ' + rpb[h * rpbVolume() + bias]' : ''};
          var dp = 0.0;
          for (var c = 0; c < Dv; c++) {
            dp = fma(dOut[qRow * Dv + c], v[c], dp);
          }
          let p = exp(s - stats[2 * qRow]);
          let ds = p * (dp - stats[2 * qRow + 1]);
          for (var c = 0; c < D; c++) {
            dk[c] = fma(ds, query[qRow * D + c], dk[c]);
          }
          for (var c = 0; c < Dv; c++) {
            dv[c] = fma(p, dOut[qRow * Dv + c], dv[c]);
          }
        }
      }
    }
  }
  let rowsTotal = uniforms.batch * ${rows} * uniforms.headsKv;
  for (var c = 0; c < D; c++) {
    result[row * D + c] = dk[c] * uniforms.scale;
  }
  for (var c = 0; c < Dv; c++) {
    result[rowsTotal * D + row * Dv + c] = dv[c];
  }
}
`;
  }
}
