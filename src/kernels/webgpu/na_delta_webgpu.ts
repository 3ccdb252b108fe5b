/**
 * Fused NA backward, first pass: per row (batch, token, head) `delta = dot(dO, O) - dLse`, the softmax
 * backward's row term with the logsumexp's own upstream gradient folded in. Output `stats`
 * `[batch*tokens*heads, 2]`: (logsumexp, delta) per row, so the later passes bind one buffer for both (WebGPU
 * allows only 8 storage buffers per program by default).
 */
import {GEOMETRY_WGSL, NAProgram} from './program_util';

const THREADS = 64;

export class NADeltaProgram extends NAProgram {
  constructor(private hasDLse: boolean, rows: number, maxPerDimension: number) {
    super('delta', hasDLse ? 'dlse' : '', ['dOut', 'output', 'lse', ...(hasDLse ? ['dLse'] : [])],
          2 * rows, Math.ceil(rows / THREADS), THREADS, maxPerDimension);
  }

  getUserCode(): string {
    return `
${GEOMETRY_WGSL}
fn main(index : i32) {
  let row = workgroupIndex() * ${THREADS} + i32(localIndex);
  if (row >= uniforms.batch * uniforms.numTokens * uniforms.heads) {
    return;
  }
  var sum = 0.0;
  let dv = uniforms.headDimV;
  for (var c = 0; c < dv; c++) {
    sum = fma(dOut[row * dv + c], output[row * dv + c], sum);
  }
  result[2 * row] = lse[row];
  result[2 * row + 1] = sum${this.hasDLse ? ' - dLse[row]' : ''};
}
`;
  }
}
