/**
 * Gradient of the relative positional bias: one workgroup per (head, rpb entry). An entry fixes the key's
 * offset from the query per axis, so the queries that use it form a product of per-axis sets: the threads
 * take every query of the batch in turn and keep those whose windows contain that offset on every axis
 * (getAxisWindow: the slot is `idx - rpbBase`). (They took (batch, axis-0 coordinate) pairs before: with one
 * batch, a 1-D or 2-D call had one working thread per workgroup, and the pass took more than half of a 2-D
 * forward+backward on the software adapter.) Each term is dS of that (query, slot): recomputed
 * from the saved logsumexp and delta (`fused`, the fused backward), or read from the upstream gradient of the
 * logits (`given`, the split QK backward). The workgroup sums its terms: no atomics. Output `[heads*rpbVolume]`.
 */
import {GEOMETRY_WGSL, NAProgram} from './program_util';

const THREADS = 64;

export class RpbGradProgram extends NAProgram {
  constructor(private mode: 'fused' | 'given', count: number, maxPerDimension: number) {
    super('rpb_grad', mode,
          mode === 'fused' ? ['query', 'key', 'value', 'dOut', 'stats', 'rpb'] : ['dLogits'], count, count,
          THREADS, maxPerDimension);
  }

  getUserCode(): string {
    const D = 'uniforms.headDim', Dv = 'uniforms.headDimV';
    const term = this.mode === 'fused' ? `
  let qRow = (b * uniforms.numTokens + token) * uniforms.heads + h;
  let kRow = (b * uniforms.numTokens + keyToken) * uniforms.headsKv + h / uniforms.headsPerKv;
  var s = 0.0;
  for (var c = 0; c < ${D}; c++) {
    s = fma(query[qRow * ${D} + c], key[kRow * ${D} + c], s);
  }
  let p = exp(s * uniforms.scale + rpb[h * rpbVolume() + entry] - stats[2 * qRow]);
  var dp = 0.0;
  for (var c = 0; c < ${Dv}; c++) {
    dp = fma(dOut[qRow * ${Dv} + c], value[kRow * ${Dv} + c], dp);
  }
  return p * (dp - stats[2 * qRow + 1]);` : `
  let qRow = (b * uniforms.numTokens + token) * uniforms.heads + h;
  return dLogits[qRow * (uniforms.kernelVolume + uniforms.nExtra) + slot];`;
    return `
${GEOMETRY_WGSL}
var<workgroup> partial : array<f32, ${THREADS}>;

fn rpbVolume() -> i32 {
  return uniforms.rpbDims.x * uniforms.rpbDims.y * uniforms.rpbDims.z;
}

// Slot along axis a of key offset idx (an rpb index) for query coordinate i, or -1 when outside the window.
fn axisSlot(a : i32, i : i32, idx : i32) -> i32 {
  let w = getAxisWindow(i, uniforms.lengths[a], uniforms.kernel[a], uniforms.stride[a], uniforms.dilation[a],
                        axisCausal(a));
  let t = idx - w.rpbBase;
  return select(-1, t, t >= 0 && t < w.count);
}

fn term(b : i32, h : i32, entry : i32, token : i32, keyToken : i32, slot : i32) -> f32 {${term}
}

fn main(index : i32) {
  let lid = i32(localIndex);
  let wg = workgroupIndex();
  let h = wg / rpbVolume();
  let entry = wg % rpbVolume();
  let idx = vec3<i32>(entry / (uniforms.rpbDims.y * uniforms.rpbDims.z), (entry / uniforms.rpbDims.z) % uniforms.rpbDims.y,
                      entry % uniforms.rpbDims.z);
  let L = uniforms.lengths;
  let d = uniforms.dilation.xyz;
  var sum = 0.0;
  if (wg < uniforms.workgroupCount) {
    // Every query (batch, i0, i1, i2) in turn, the threads taking every THREADS-th: the last axis fastest, so
    // that most candidates are skipped after one window test.
    let total = uniforms.batch * L.x * L.y * L.z;
    for (var f = lid; f < total; f += ${THREADS}) {
      let i2 = f % L.z;
      let t2 = axisSlot(2, i2, idx.z);
      if (t2 < 0) {
        continue;
      }
      let r1 = f / L.z;
      let i1 = r1 % L.y;
      let t1 = axisSlot(1, i1, idx.y);
      if (t1 < 0) {
        continue;
      }
      let r0 = r1 / L.y;
      let i0 = r0 % L.x;
      let t0 = axisSlot(0, i0, idx.x);
      if (t0 < 0) {
        continue;
      }
      let b = r0 / L.x;
      let i = vec3<i32>(i0, i1, i2);
      let j = i + d * (idx - uniforms.kernel.xyz + vec3<i32>(1));
      let slot = (t0 * uniforms.kernel.y + t1) * uniforms.kernel.z + t2;
      sum += term(b, h, entry, tokenOf(i), tokenOf(j), slot);
    }
  }
  partial[lid] = sum;
  workgroupBarrier();
  for (var width = ${THREADS / 2}; width > 0; width = width / 2) {
    if (lid < width) {
      partial[lid] += partial[lid + width];
    }
    workgroupBarrier();
  }
  if (lid == 0 && wg < uniforms.workgroupCount) {
    result[wg] = partial[0];
  }
}
`;
  }
}
