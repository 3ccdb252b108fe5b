import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {NAForwardInputs, NattenNAForward, namedInputs} from '../kernel_names';
import {qkvInfo, run, unpack} from './kernel_util';
import {NAForwardProgram} from './na_forward_webgpu';
import {Backend, checkBindable, deviceLimits, geometryUniforms} from './program_util';
import {chooseTraits, queryTiles} from './tile_traits';

export const naForward: KernelFunc = ({inputs, backend, attrs}): TensorInfo[] => {
  const {query, key, value, rpb, additionalKeys, additionalValues} = namedInputs<NAForwardInputs>(inputs, attrs!);
  const info = qkvInfo(query, key, value, additionalKeys, rpb, attrs!);
  const gpu = backend as Backend;
  const limits = deviceLimits(gpu);
  const outSize = info.batch * info.numTokens * info.heads * info.headDimV;
  const lseSize = info.batch * info.numTokens * info.heads;
  checkBindable('NattenNAForward', limits, [['query', query.shape.reduce((a, b) => a * b)],
                                          ['output and logsumexp (packed)', outSize + lseSize]]);
  const traits = chooseTraits(info, limits.maxComputeWorkgroupStorageSize);
  const tiles = queryTiles(info, traits);
  const count = info.batch * info.heads * tiles[0] * tiles[1] * tiles[2];
  const program = new NAForwardProgram(traits, info.headDim, info.headDimV, rpb != null, info.nExtra > 0,
                                       outSize + lseSize, count, limits.maxComputeWorkgroupsPerDimension);
  const packed = run(gpu, program, [query, key, value, rpb, additionalKeys, additionalValues],
                     geometryUniforms(info, count, tiles));
  return unpack(gpu, packed, [info.outShape, info.lseShape]);
};

export const naForwardConfig: KernelConfig = {kernelName: NattenNAForward, backendName: 'webgpu', kernelFunc: naForward};
