/**
 * Copies `count` elements starting at `offset` out of a packed buffer: how the programs that produce two
 * results in one buffer (output and logsumexp, dk and dv) hand each back as a tensor of its own.
 */
import type {WebGPUProgram} from '@tensorflow/tfjs-backend-webgpu';
import {foldDispatch} from './program_util';

const THREADS = 256;

export class CopyProgram implements WebGPUProgram {
  outputShape: number[];
  shaderKey = 'natten_copy';
  dispatchLayout = {x: [0]};
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [THREADS, 1, 1];
  variableNames = ['packed'];
  uniforms = 'offset : i32, count : i32, ';

  constructor(count: number, maxPerDimension: number) {
    this.outputShape = [count];
    this.dispatch = foldDispatch(Math.ceil(count / THREADS), maxPerDimension);
  }

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
export class ConcatProgram implements WebGPUProgram {
  outputShape: number[];
  shaderKey = 'natten_concat';
  dispatchLayout = {x: [0]};
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [THREADS, 1, 1];
  variableNames = ['first', 'second'];
  uniforms = 'firstCount : i32, count : i32, ';

  constructor(count: number, maxPerDimension: number) {
    this.outputShape = [count];
    this.dispatch = foldDispatch(Math.ceil(count / THREADS), maxPerDimension);
  }

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
