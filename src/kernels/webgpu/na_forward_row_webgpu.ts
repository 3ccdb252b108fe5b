/**
 * Fused NA forward, row version: one thread per (batch, query, head) walks its window (then the extra
 * tokens) with an online softmax in registers, reading key and value rows from global memory. Exact work:
 * the choice for small windows and small head dims. Output packed like the tiled forward:
 * `[output | logsumexp]`.
 */
import {dimClass, GEOMETRY_WGSL, NAProgram} from './program_util';
import {ROW_THREADS, ROW_WGSL, rowConstants} from './row_wgsl';

export class NAForwardRowProgram extends NAProgram {
  constructor(private headDim: number, private headDimV: number, private hasRpb: boolean,
              private hasExtra: boolean, outputSize: number, rows: number, maxPerDimension: number) {
    super('forward_row', `d${dimClass(headDim)}_${dimClass(headDimV)}_${hasRpb ? 'rpb' : ''}_${hasExtra ? 'extra' : ''}`,
          ['query', 'key', 'value', ...(hasRpb ? ['rpb'] : []), ...(hasExtra ? ['extras'] : [])], outputSize,
          Math.ceil(rows / ROW_THREADS), ROW_THREADS, maxPerDimension);
  }

  getUserCode(): string {
    const extra = this.hasExtra ? `
  for (var x = 0; x < uniforms.nExtra; x++) {
    let kRow = (b * uniforms.nExtra + x) * uniforms.headsKv + hk;
    var s = 0.0;
    for (var c = 0; c < D; c++) {
      s = fma(q[c], extras[kRow * D + c], s);
    }
    absorb(s * uniforms.scale, &m, &l, &acc, &p);
    for (var c = 0; c < Dv; c++) {
      acc[c] = fma(p, extras[extraValuesOffset() + kRow * Dv + c], acc[c]);
    }
  }` : '';
    return `
${rowConstants(dimClass(this.headDim), dimClass(this.headDimV))}
${GEOMETRY_WGSL}
${ROW_WGSL}
// Online softmax step for a logit s: updates the running max m and sum l (rescaling acc when m grows) and
// returns the weight of s in p (relative to the new max).
fn absorb(s : f32, m : ptr<function, f32>, l : ptr<function, f32>, acc : ptr<function, array<f32, DV>>,
          p : ptr<function, f32>) {
  if (s > *m) {
    let r = select(0.0, exp(*m - s), *m > NEG_HALF);
    *l = *l * r;
    for (var c = 0; c < uniforms.headDimV; c++) {
      (*acc)[c] = (*acc)[c] * r;
    }
    *m = s;
  }
  *p = exp(s - *m);
  *l = *l + *p;
}

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
  var q : array<f32, DK>;
  for (var c = 0; c < D; c++) {
    q[c] = query[row * D + c];
  }
  var acc : array<f32, DV>;
  for (var c = 0; c < DV; c++) {
    acc[c] = 0.0;
  }
  var m = NEG;
  var l = 0.0;
  var p = 0.0;
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
        absorb(s, &m, &l, &acc, &p);
        for (var c = 0; c < Dv; c++) {
          acc[c] = fma(p, value[kRow * Dv + c], acc[c]);
        }
      }
    }
  }${extra}
  let inv = 1.0 / l;
  for (var c = 0; c < Dv; c++) {
    result[row * Dv + c] = acc[c] * inv;
  }
  result[uniforms.batch * uniforms.numTokens * uniforms.heads * Dv + row] = m + log(l);
}
`;
  }
}
