/** NAInfo of a kernel call from its inputs' TensorInfos: shared by every backend's kernels. */
import type {NamedAttrMap, TensorInfo} from '@tensorflow/tfjs-core';
import {computeAVInfo, computeQKVInfo, NAInfo} from '../core/na_info';
import type {NAAttrs} from './kernel_names';

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
