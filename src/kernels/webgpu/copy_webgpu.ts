/**
 * Small programs over flat buffers: copying a result out of a packed buffer (how the programs that produce two
 * results in one buffer, output and logsumexp, dk and dv, hand each back as a tensor of its own), concatenating
 * two tensors, and adding up rows of partial sums.
 */
import type {TensorInfo} from '@tensorflow/tfjs-core';
import type {WebGPUProgram} from '@tensorflow/tfjs-backend-webgpu';
import {Backend, deviceLimits, foldDispatch} from './program_util';

const THREADS = 256;

/** A program with a flat output of `count` elements, one thread each, in workgroups of THREADS (folded dispatch). */
abstract class FlatProgram implements WebGPUProgram {
  outputShape: number[];
  dispatchLayout = {x: [0]};
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [THREADS, 1, 1];
  abstract shaderKey: string;
  abstract variableNames: string[];
  abstract uniforms: string;

  constructor(count: number, maxPerDimension: number) {
    this.outputShape = [count];
    this.dispatch = foldDispatch(Math.ceil(count / THREADS), maxPerDimension);
  }

  abstract getUserCode(): string;
}

export class CopyProgram extends FlatProgram {
  shaderKey = 'natten_copy';
  variableNames = ['packed'];
  uniforms = 'offset : i32, count : i32, ';

  getUserCode(): string {
    return `
fn main(index : i32) {
  let i = i32(workgroupId.x + workgroupId.y * numWorkgroups.x) * ${THREADS} + i32(localIndex);
  if (i < uniforms.count) {
    result[i] = packed[uniforms.offset + i];
  }
}
`;
  }
}

/** Concatenates two flat tensors into one buffer (the extra keys and values, bound as one `extras`). */
export class ConcatProgram extends FlatProgram {
  shaderKey = 'natten_concat';
  variableNames = ['first', 'second'];
  uniforms = 'firstCount : i32, count : i32, ';

  getUserCode(): string {
    return `
fn main(index : i32) {
  let i = i32(workgroupId.x + workgroupId.y * numWorkgroups.x) * ${THREADS} + i32(localIndex);
  if (i < uniforms.firstCount) {
    result[i] = first[i];
  } else if (i < uniforms.count) {
    result[i] = second[i - uniforms.firstCount];
  }
}
`;
  }
}

/**
 * `out[g * width + e]` = the sum over r < rows, in that order, of `parts[offset + (g * rows + r) * width + e]`, for
 * g < groups and e < width: how the partial sums that the slices or tiles of a pass write are added up (the extra
 * tokens' dk/dv slices: one group; the rpb gradient's rows per batch and block or tile: a group per head).
 */
export class RowSumProgram extends FlatProgram {
  shaderKey = 'natten_row_sum';
  variableNames = ['parts'];
  uniforms = 'count : i32, width : i32, rows : i32, offset : i32, ';

  getUserCode(): string {
    return `
fn main(index : i32) {
  let i = i32(workgroupId.x + workgroupId.y * numWorkgroups.x) * ${THREADS} + i32(localIndex);
  if (i < uniforms.count) {
    let g = i / uniforms.width;
    let first = uniforms.offset + g * uniforms.rows * uniforms.width + i % uniforms.width;
    var sum = 0.0;
    for (var r = 0; r < uniforms.rows; r++) {
      sum += parts[first + r * uniforms.width];
    }
    result[i] = sum;
  }
}
`;
  }
}

/** Runs RowSumProgram: `groups * width` sums of `rows` partial sums each, read from `offset` floats into `parts`. */
export function sumRows(gpu: Backend, parts: TensorInfo, groups: number, width: number, rows: number,
                        offset = 0): TensorInfo {
  const count = groups * width;
  const program = new RowSumProgram(count, deviceLimits(gpu).maxComputeWorkgroupsPerDimension);
  return gpu.runWebGPUProgram(program, [parts], 'float32', [{type: 'int32', data: [count]},
                              {type: 'int32', data: [width]}, {type: 'int32', data: [rows]},
                              {type: 'int32', data: [offset]}]);
}
