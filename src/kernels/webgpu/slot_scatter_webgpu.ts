/**
 * Split-op gradients that land on keys or values: `out[b, j, hk, c] = alpha * sum over the heads h of kv head
 * hk and the queries q whose windows contain key j of w[b, q, h, slot of j in q's window] * x[b, q, h, c]`.
 * The queries come from the inverse neighborhood (getAxisInverseWindow per axis), so each output element is
 * one thread's sum: no atomics. The AV backward's dValue (w = weights, x = dO) and the QK backward's dKey
 * (w = dLogits, x = query, alpha = scale).
 */
import {GEOMETRY_WGSL, NAProgram} from './program_util';
import {SPLIT_THREADS, SPLIT_WGSL} from './split_wgsl';

export class SlotScatterProgram extends NAProgram {
  constructor(outputSize: number, maxPerDimension: number) {
    super('slot_scatter', '', ['w', 'x'], outputSize, Math.ceil(outputSize / SPLIT_THREADS), SPLIT_THREADS,
          maxPerDimension);
  }

  getUserCode(): string {
    const D = 'uniforms.headDim';
    return `
${GEOMETRY_WGSL}
${SPLIT_WGSL}
fn main(index : i32) {
  let e = elementIndex();
  if (e >= uniforms.batch * uniforms.numTokens * uniforms.headsKv * ${D}) {
    return;
  }
  let c = e % ${D};
  let row = e / ${D};
  let hk = row % uniforms.headsKv;
  let key = (row / uniforms.headsKv) % uniforms.numTokens;
  let b = row / (uniforms.headsKv * uniforms.numTokens);
  let j = coordsOf(key);
  var first : vec3<i32>;
  var count : vec3<i32>;
  for (var a = 0; a < 3; a++) {
    let iw = getAxisInverseWindow(j[a], uniforms.lengths[a], uniforms.kernel[a], uniforms.stride[a],
                                  uniforms.dilation[a], axisCausal(a));
    first[a] = iw.first;
    count[a] = iw.count;
  }
  let S = numSlots();
  let dil = uniforms.dilation.xyz;
  var sum = 0.0;
  for (var u0 = 0; u0 < count.x; u0++) {
    for (var u1 = 0; u1 < count.y; u1++) {
      for (var u2 = 0; u2 < count.z; u2++) {
        let q = tokenOf(first + dil * vec3<i32>(u0, u1, u2));
        let win = windowOf(q);
        let slot = slotIndex((j - win.first) / dil);
        for (var hh = 0; hh < uniforms.headsPerKv; hh++) {
          let qRow = (b * uniforms.numTokens + q) * uniforms.heads + hk * uniforms.headsPerKv + hh;
          sum = fma(w[qRow * S + slot], x[qRow * ${D} + c], sum);
        }
      }
    }
  }
  result[e] = sum * uniforms.scale;
}
`;
  }
}
