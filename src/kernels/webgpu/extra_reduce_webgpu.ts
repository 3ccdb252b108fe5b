/**
 * Split-op gradients of the extra tokens: `out[b, e, hk, c] = alpha * sum over every query q and head h of kv
 * head hk of w[b, q, h, kernelVolume + e] * x[b, q, h, c]`, one thread per output element. The AV backward's
 * dAdditionalValues (w = weights, x = dO) and the QK backward's dAdditionalKeys (w = dLogits, x = query,
 * alpha = scale).
 */
import {GEOMETRY_WGSL, NAProgram} from './program_util';
import {SPLIT_THREADS, SPLIT_WGSL} from './split_wgsl';

export class ExtraReduceProgram extends NAProgram {
  constructor(outputSize: number, maxPerDimension: number) {
    super('extra_reduce', '', ['w', 'x'], outputSize, Math.ceil(outputSize / SPLIT_THREADS), SPLIT_THREADS,
          maxPerDimension);
  }

  getUserCode(): string {
    const D = 'uniforms.headDim';
    return `
${GEOMETRY_WGSL}
${SPLIT_WGSL}
fn main(index : i32) {
  let e = elementIndex();
  if (e >= uniforms.batch * uniforms.nExtra * uniforms.headsKv * ${D}) {
    return;
  }
  let c = e % ${D};
  let row = e / ${D};
  let hk = row % uniforms.headsKv;
  let x0 = (row / uniforms.headsKv) % uniforms.nExtra;
  let b = row / (uniforms.headsKv * uniforms.nExtra);
  let S = numSlots();
  var sum = 0.0;
  for (var q = 0; q < uniforms.numTokens; q++) {
    for (var hh = 0; hh < uniforms.headsPerKv; hh++) {
      let qRow = (b * uniforms.numTokens + q) * uniforms.heads + hk * uniforms.headsPerKv + hh;
      sum = fma(w[qRow * S + uniforms.kernelVolume + x0], x[qRow * ${D} + c], sum);
    }
  }
  result[e] = sum * uniforms.scale;
}
`;
  }
}
