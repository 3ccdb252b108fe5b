/** Glue shared by the WebGPU kernel functions: NAInfo from tensor shapes, running programs, unpacking. */
import type {NamedAttrMap, TensorInfo} from '@tensorflow/tfjs-core';
import {computeAVInfo, computeQKVInfo, NAInfo} from '../../core/na_info';
import type {NAAttrs} from '../kernel_names';
import {CopyProgram} from './copy_webgpu';
import {Backend, deviceLimits, NAProgram, ProgramUniform} from './program_util';

export function qkvInfo(query: TensorInfo, key: TensorInfo, value: TensorInfo | null,
                        additionalKeys: TensorInfo | undefined, rpb: TensorInfo | undefined,
                        attrs: NamedAttrMap): NAInfo {
  return computeQKVInfo(query.shape, key.shape, value == null ? null : value.shape,
                        additionalKeys == null ? null : additionalKeys.shape, rpb != null,
                        attrs as unknown as NAAttrs);
}

export function avInfo(weights: TensorInfo, value: TensorInfo, attrs: NamedAttrMap): NAInfo {
  return computeAVInfo(weights.shape, value.shape, attrs as unknown as NAAttrs);
}

export function run(backend: Backend, program: NAProgram, inputs: Array<TensorInfo | undefined>,
                    uniforms: ProgramUniform): TensorInfo {
  return backend.runWebGPUProgram(program, inputs.filter(t => t != null) as TensorInfo[], 'float32', uniforms);
}

/** The packed regions of `packed` as tensors of the given shapes (in order); disposes `packed`. */
export function unpack(backend: Backend, packed: TensorInfo, shapes: number[][]): TensorInfo[] {
  const limit = deviceLimits(backend).maxComputeWorkgroupsPerDimension;
  let offset = 0;
  const outs = shapes.map(shape => {
    const count = shape.reduce((a, b) => a * b, 1);
    const info = backend.runWebGPUProgram(new CopyProgram(count, limit), [packed], 'float32',
                                          [{type: 'int32', data: [offset]}, {type: 'int32', data: [count]}]);
    offset += count;
    return {dataId: info.dataId, shape, dtype: 'float32' as const};
  });
  backend.disposeData(packed.dataId);
  return outs;
}

/** A flat result as a tensor of the given shape (same buffer). */
export function shaped(info: TensorInfo, shape: number[]): TensorInfo {
  return {dataId: info.dataId, shape, dtype: 'float32'};
}
