/**
 * Split ops: `out[b, q, h, slot] = alpha * x[b, q, h] . y[key of slot] (+ rpb)`, `masked` in slots outside the
 * window. The QK forward (x = query, y = key, alpha = scale, rpb, masked = -Infinity) and the AV backward's
 * dWeights (x = dO, y = value, alpha = 1, masked = 0). Extra-token slots use `extraY`.
 */
import {GEOMETRY_WGSL, NAProgram} from './program_util';
import {SPLIT_THREADS, SPLIT_WGSL} from './split_wgsl';

export class SlotDotProgram extends NAProgram {
  constructor(private hasRpb: boolean, private hasExtra: boolean,
              private maskedInfinity: boolean, outputSize: number, maxPerDimension: number) {
    super('slot_dot', `${hasRpb ? 'rpb' : ''}_${hasExtra ? 'extra' : ''}_${maskedInfinity ? 'inf' : 'zero'}`,
          ['x', 'y', ...(hasRpb ? ['rpb'] : []), ...(hasExtra ? ['extraY'] : [])], outputSize,
          Math.ceil(outputSize / SPLIT_THREADS), SPLIT_THREADS, maxPerDimension);
  }

  getUserCode(): string {
    const D = 'uniforms.headDim';
    return `
${GEOMETRY_WGSL}
${SPLIT_WGSL}
fn main(index : i32) {
  let e = elementIndex();
  let S = numSlots();
  if (e >= uniforms.batch * uniforms.numTokens * uniforms.heads * S) {
    return;
  }
  let slot = e % S;
  let row = e / S;
  let h = row % uniforms.heads;
  let token = (row / uniforms.heads) % uniforms.numTokens;
  let b = row / (uniforms.heads * uniforms.numTokens);
  let hk = h / uniforms.headsPerKv;
  var yRow = 0;
  var bias = 0.0;
  if (slot >= uniforms.kernelVolume) {
    ${this.hasExtra ? 'yRow = (b * uniforms.nExtra + slot - uniforms.kernelVolume) * uniforms.headsKv + hk;' : ''}
  } else {
    let w = windowOf(token);
    let t = slotCoords(slot);
    if (any(t >= w.count)) {
      result[e] = ${this.maskedInfinity ? '-uniforms.INFINITY' : '0.0'};
      return;
    }
    yRow = (b * uniforms.numTokens + tokenOf(w.first + uniforms.dilation.xyz * t)) * uniforms.headsKv + hk;
    ${this.hasRpb ? 'bias = rpb[rpbOffset(h, w.rpbBase + t)];' : ''}
  }
  var s = 0.0;
  for (var c = 0; c < ${D}; c++) {
    ${this.hasExtra ? `let yv = select(y[yRow * ${D} + c], extraY[yRow * ${D} + c], slot >= uniforms.kernelVolume);` :
                      `let yv = y[yRow * ${D} + c];`}
    s = fma(x[row * ${D} + c], yv, s);
  }
  result[e] = s * uniforms.scale + bias;
}
`;
  }
}
