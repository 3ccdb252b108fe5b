import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {ForwardAttrs, NAForwardInputs, NattenNAForward, namedInputs} from '../kernel_names';
import {getWebGPUTileOverride} from '../../flags';
import {directForward, forwardPath, gemmTraits, packExtras, qkvInfo, run, shaped, unpack} from './kernel_util';
import {checkHalo, NAForwardHaloProgram, planHalo} from './na_forward_halo_webgpu';
import {NAForwardRowProgram} from './na_forward_row_webgpu';
import {NAForwardExactCopyProgram, NAForwardProgram} from './na_forward_webgpu';
import {Backend, checkBindable, deviceLimits, disposeAll, geometryUniforms, NAProgram} from './program_util';
import {rowDims} from './row_wgsl';
import {queryTiles, tiledDims} from './tile_traits';

/**
 * One program writes the output and the logsumexp into one buffer; two copies hand them back (the tiled
 * program's output through NAForwardExactCopyProgram). When the call needs no logsumexp (`needLse` false), only the
 * output comes back (`[output]`): from the 2-D and 3-D tiled programs as they write it (directForward), else through
 * one copy.
 */
export const naForward: KernelFunc = ({inputs, backend, attrs}): TensorInfo[] => {
  const {query, key, value, rpb, additionalKeys, additionalValues} = namedInputs<NAForwardInputs>(inputs, attrs!);
  const info = qkvInfo(query, key, value, additionalKeys, rpb, attrs!);
  const withLse = (attrs as unknown as ForwardAttrs).needLse !== false;
  const direct = !withLse && directForward(info);
  const gpu = backend as Backend;
  const limits = deviceLimits(gpu);
  const maxDim = limits.maxComputeWorkgroupsPerDimension;
  const rows = info.batch * info.numTokens * info.heads;
  const outCount = rows * info.headDimV, size = outCount + rows;
  checkBindable('NattenNAForward', limits, [['query', rows * info.headDim], ['output and logsumexp (packed)', size]]);
  let program: NAProgram, uniforms;
  const path = forwardPath(info);
  if (path === 'halo') {
    const plan = planHalo(info, limits, getWebGPUTileOverride());
    checkHalo(plan, limits);
    const tiles = queryTiles(info, plan.traits);
    const count = info.batch * info.heads * tiles[0] * tiles[1] * tiles[2];
    program = new NAForwardHaloProgram(plan.traits, plan.dims, plan.capacity, rpb != null, info.nExtra > 0, size,
                                       count, maxDim);
    uniforms = geometryUniforms(info, count, tiles);
  } else if (path === 'tiled') {
    const traits = gemmTraits(gpu, info, true);
    const tiles = queryTiles(info, traits);
    const count = info.batch * info.heads * tiles[0] * tiles[1] * tiles[2];
    program = new NAForwardProgram(traits, tiledDims(traits, info.headDim, info.headDimV), rpb != null,
                                   info.nExtra > 0, direct ? outCount : size, count, maxDim, !direct);
    uniforms = geometryUniforms(info, count, tiles);
  } else {
    program = new NAForwardRowProgram(rowDims(info.headDim, info.headDimV), rpb != null, info.nExtra > 0, size, rows, maxDim);
    uniforms = geometryUniforms(info, program.dispatch[0] * program.dispatch[1]);
  }
  const extras = packExtras(gpu, additionalKeys, additionalValues);
  const packed = run(gpu, program, [query, key, value, rpb, extras], uniforms);
  if (path !== 'tiled') {
    disposeAll(gpu, [extras]);
    return unpack(gpu, packed, withLse ? [info.outShape, info.lseShape] : [info.outShape]);
  }
  if (direct) {
    disposeAll(gpu, [extras]);
    return [shaped(packed, info.outShape)];
  }
  // The tiled program's output goes through the copy that redoes its non-finite elements exactly.
  const copy = new NAForwardExactCopyProgram(rpb != null, info.nExtra > 0, outCount, maxDim);
  const out = run(gpu, copy, [packed, query, key, value, rpb, extras], geometryUniforms(info, copy.count));
  disposeAll(gpu, [extras]);
  if (!withLse) {
    disposeAll(gpu, [packed]);
    return [shaped(out, info.outShape)];
  }
  return [shaped(out, info.outShape), ...unpack(gpu, packed, [info.lseShape], outCount)];
};

export const naForwardConfig: KernelConfig = {kernelName: NattenNAForward, backendName: 'webgpu', kernelFunc: naForward};
