import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import type {NAInfo} from '../../core/na_info';
import {NABackwardInputs, NattenNABackward} from '../kernel_names';
import {gemmTraits, packExtras, qkvInfo, run, shaped, unpack, useTiledBackward} from './kernel_util';
import {extraSlices, extraTiles, NABackwardExtraProgram} from './na_backward_extra_webgpu';
import {sumRows} from './copy_webgpu';
import {kvExtraBytes, NABackwardKVProgram} from './na_backward_kv_webgpu';
import {NABackwardQueryProgram} from './na_backward_query_webgpu';
import {NABackwardRowProgram} from './na_backward_row_webgpu';
import {NADeltaProgram} from './na_delta_webgpu';
import {Backend, checkBindable, deviceLimits, disposeAll, geometryUniforms, NAProgram, ProgramUniform} from './program_util';
import {rowDims} from './row_wgsl';
import {fusedRpbSlots, rpbGradient, rpbPartialSums} from './rpb_grad_webgpu';
import {backwardOrder, chooseTraits, GemmTileTraits, queryTiles, tiledDims} from './tile_traits';

type Pass = [NAProgram, ProgramUniform];

/**
 * The dq, dk/dv and extra-token dk/dv programs of the chosen path, with their uniforms; `extraSlices`: how many
 * partial sums of the extra tokens' dk and dv the tiled path's extra pass writes (1: the result itself);
 * `rpbTiles`: the query tiles per batch and head whose rpb partial sums the tiled dq pass writes after dq
 * (fusedRpbSlots), 0 when the rpb gradient has passes of its own.
 */
function passes(gpu: Backend, info: NAInfo, hasRpb: boolean):
    {dq: Pass, dkdv: Pass, extra: Pass | null, extraSlices: number, rpbTiles: number} {
  const limits = deviceLimits(gpu);
  const maxDim = limits.maxComputeWorkgroupsPerDimension;
  const {batch: B, numTokens: N, heads: H, headsKv: Hk, headDim: D, headDimV: Dv, nExtra: E} = info;
  const hasExtra = E > 0;
  if (useTiledBackward(info)) {
    // dq: query tiles, dk/dv: key tiles, both register-blocked (the dk/dv pass's traits leave room for its own
    // workgroup table), in the rank's backward order (an override's own order stands); the extra tokens' dk/dv,
    // only when there are extra tokens: the first tiled design's traits.
    const order = backwardOrder(info.naDim);
    const inOrder = (t: GemmTileTraits) => t.order === undefined ? Object.assign({}, t, {order}) : t;
    const qTraits = inOrder(gemmTraits(gpu, info));
    const qTiles = queryTiles(info, qTraits);
    const dqCount = B * H * qTiles[0] * qTiles[1] * qTiles[2];
    const rpbSlots = hasRpb ? fusedRpbSlots(info, qTraits, dqCount, limits) : 0;
    const rpbFloats = rpbSlots > 0 ? dqCount * info.rpbVolume : 0;
    const kTraits = inOrder(gemmTraits(gpu, info, false, kvExtraBytes));
    const kTiles = queryTiles(info, kTraits);
    const kvCount = B * Hk * kTiles[0] * kTiles[1] * kTiles[2];
    let extra: Pass | null = null, slices = 1;
    if (hasExtra) {
      const traits = chooseTraits(info, limits.maxComputeWorkgroupStorageSize);
      const packed = B * E * Hk * (D + Dv);
      const {rowTiles, chunks} = extraTiles(traits, B, Hk, E, N, info.headsPerKv);
      const cut = extraSlices(rowTiles, chunks, packed);
      slices = cut.slices;
      const extraCount = rowTiles * slices;
      extra = [new NABackwardExtraProgram(traits, D, Dv, packed * slices, extraCount, maxDim),
               geometryUniforms(info, extraCount, [slices, cut.perSlice, 1])];
    }
    return {
      dq: [new NABackwardQueryProgram(qTraits, tiledDims(qTraits, D, Dv), hasRpb, hasExtra, B * N * H * D + rpbFloats,
                                      dqCount, maxDim, rpbSlots),
           geometryUniforms(info, dqCount, qTiles)],
      dkdv: [new NABackwardKVProgram(kTraits, tiledDims(kTraits, D, Dv), hasRpb, B * N * Hk * (D + Dv), kvCount,
                                     maxDim),
             geometryUniforms(info, kvCount, kTiles)],
      extra,
      extraSlices: slices,
      rpbTiles: rpbSlots > 0 ? qTiles[0] * qTiles[1] * qTiles[2] : 0,
    };
  }
  const row = (kind: 'query' | 'key' | 'extra', size: number, rows: number): Pass => {
    const program = new NABackwardRowProgram(kind, rowDims(D, Dv), hasRpb, hasExtra, size, rows, maxDim);
    return [program, geometryUniforms(info, program.dispatch[0] * program.dispatch[1])];
  };
  return {
    dq: row('query', B * N * H * D, B * N * H),
    dkdv: row('key', B * N * Hk * (D + Dv), B * N * Hk),
    extra: hasExtra ? row('extra', B * E * Hk * (D + Dv), B * E * Hk) : null,
    extraSlices: 1,
    rpbTiles: 0,
  };
}

/**
 * Passes, none storing anything of size tokens x K: delta (with the logsumexp, as `stats`); dq; dk and dv (one
 * packed buffer); then, when present, the extra tokens' dk and dv (one packed buffer) and drpb.
 */
export const naBackward: KernelFunc = ({inputs, backend, attrs}): TensorInfo[] => {
  const {query, key, value, rpb, additionalKeys, additionalValues, output, lse, dOutput, dLse} =
      inputs as unknown as NABackwardInputs;
  const info = qkvInfo(query, key, value, additionalKeys, rpb, attrs!);
  const gpu = backend as Backend;
  const limits = deviceLimits(gpu);
  const maxDim = limits.maxComputeWorkgroupsPerDimension;
  const {batch: B, numTokens: N, heads: H, headsKv: Hk, headDim: D, headDimV: Dv, nExtra: E} = info;
  checkBindable('NattenNABackward', limits,
                [['query', B * N * H * D], ['dk and dv (packed)', B * N * Hk * (D + Dv)],
                 ['extra dk and dv (packed)', B * E * Hk * (D + Dv)]]);
  const p = passes(gpu, info, rpb != null);

  const rows = B * N * H;
  const delta = new NADeltaProgram(dLse != null, rows, maxDim);
  const stats = run(gpu, delta, [dOutput, output, lse, dLse], geometryUniforms(info, delta.dispatch[0] * delta.dispatch[1]));
  const extras = packExtras(gpu, additionalKeys, additionalValues);

  let dq = run(gpu, p.dq[0], [query, key, value, dOutput, stats, rpb, extras], p.dq[1]);
  let drpb: TensorInfo | null = null;
  if (p.rpbTiles > 0) {
    // The dq pass's rpb partial sums follow dq in its buffer.
    drpb = rpbPartialSums(gpu, info, dq, p.rpbTiles, B * N * H * D);
    [dq] = unpack(gpu, dq, [query.shape]);
  }
  const dkdv = run(gpu, p.dkdv[0], [query, key, value, dOutput, stats, rpb], p.dkdv[1]);
  const outs = [shaped(dq, query.shape), ...unpack(gpu, dkdv, [key.shape, value.shape])];
  if (rpb != null) {
    drpb ??= rpbGradient(gpu, info, 'fused', [query, key, value, dOutput, stats, rpb]);
    outs.push(shaped(drpb, info.rpbShape));
  }
  if (p.extra != null) {
    let packed = run(gpu, p.extra[0], [query, dOutput, stats, extras], p.extra[1]);
    if (p.extraSlices > 1) {
      const count = B * E * Hk * (D + Dv);
      const parts = packed;
      packed = sumRows(gpu, parts, 1, count, p.extraSlices);
      disposeAll(gpu, [parts]);
    }
    outs.push(...unpack(gpu, packed, [additionalKeys!.shape, additionalValues!.shape]));
  }
  disposeAll(gpu, [stats, extras]);
  return outs;
};

export const naBackwardConfig: KernelConfig = {kernelName: NattenNABackward, backendName: 'webgpu',
                                               kernelFunc: naBackward};
