/**
 * Split ops: `out[b, q, h, c] = alpha * sum over the window's valid slots of w[b, q, h, slot] * y[key, c]`,
 * plus the extra-token slots with `extraY`. The AV forward (w = weights, y = value, alpha = 1) and the QK
 * backward's dQuery (w = dLogits, y = key, alpha = scale). Masked slots are never read.
 */
import {GEOMETRY_WGSL, NAProgram} from './program_util';
import {SPLIT_THREADS, SPLIT_WGSL} from './split_wgsl';

export class SlotGatherProgram extends NAProgram {
  constructor(private hasExtra: boolean, outputSize: number, maxPerDimension: number) {
    super('slot_gather', `${hasExtra ? 'extra' : ''}`, ['w', 'y', ...(hasExtra ? ['extraY'] : [])],
          outputSize, Math.ceil(outputSize / SPLIT_THREADS), SPLIT_THREADS, maxPerDimension);
  }

  getUserCode(): string {
    const D = 'uniforms.headDim';
    const extra = this.hasExtra ? `
  for (var x = 0; x < uniforms.nExtra; x++) {
    let yRow = (b * uniforms.nExtra + x) * uniforms.headsKv + hk;
    sum = fma(w[row * S + uniforms.kernelVolume + x], extraY[yRow * ${D} + c], sum);
  }` : '';
    return `
${GEOMETRY_WGSL}
${SPLIT_WGSL}
fn main(index : i32) {
  let e = elementIndex();
  if (e >= uniforms.batch * uniforms.numTokens * uniforms.heads * ${D}) {
    return;
  }
  let c = e % ${D};
  let row = e / ${D};
  let h = row % uniforms.heads;
  let token = (row / uniforms.heads) % uniforms.numTokens;
  let b = row / (uniforms.heads * uniforms.numTokens);
  let hk = h / uniforms.headsPerKv;
  let S = numSlots();
  let win = windowOf(token);
  var sum = 0.0;
  for (var t0 = 0; t0 < win.count.x; t0++) {
    for (var t1 = 0; t1 < win.count.y; t1++) {
      for (var t2 = 0; t2 < win.count.z; t2++) {
        let t = vec3<i32>(t0, t1, t2);
        let yRow = (b * uniforms.numTokens + tokenOf(win.first + uniforms.dilation.xyz * t)) * uniforms.headsKv + hk;
        sum = fma(w[row * S + slotIndex(t)], y[yRow * ${D} + c], sum);
      }
    }
  }${extra}
  result[e] = sum * uniforms.scale;
}
`;
  }
}
