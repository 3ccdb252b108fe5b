/**
 * Validation of one NA op call: every argument is checked (before any backend work) and turned into
 * the kernel's attributes, its input map and the NAInfo record.
 */
import {Tensor} from '@tensorflow/tfjs-core';
import {computeNAInfo, dimsFromAV, dimsFromQKV, NADim, NAInfo} from '../core/na_info';
import type {NAAttrs} from '../kernels/kernel_names';
import {check, checkAllowTf32, checkDilation, checkIsCausal, checkKernelSize, checkOptionNames, checkReturnLse, checkSameAxes,
        checkScale, checkStride, checkTensor, checkWindowFits, fail, showValue} from './checks';
import {NAOptions, OPTION_NAMES} from './options';

export interface NACall {
  info: NAInfo;
  attrs: NAAttrs;
  inputs: Record<string, Tensor>;
  returnLse: boolean;
}

function layout(naDim: NADim, heads: string, dim: string): string {
  const spatial = ['X', 'Y, X', 'Z, Y, X'][naDim - 1];
  return `[batch, ${spatial}, ${heads}, ${dim}]`;
}

function checkOptionsObject(op: string, options: unknown): NAOptions {
  check(op, options != null && typeof options === 'object' && !Array.isArray(options),
        () => `options must be an object with at least kernelSize, got ${showValue(options)}`);
  checkOptionNames(op, options as object, OPTION_NAMES);
  return options as NAOptions;
}

function windowAttrs(op: string, naDim: NADim, options: NAOptions, spatial: number[]) {
  const kernelSize = checkKernelSize(op, options.kernelSize, naDim);
  const stride = checkStride(op, options.stride, naDim, kernelSize);
  const dilation = checkDilation(op, options.dilation, naDim);
  const isCausal = checkIsCausal(op, options.isCausal, naDim);
  checkWindowFits(op, spatial, kernelSize, dilation);
  return {kernelSize, stride, dilation, isCausal};
}

/** The kernels' attributes (fields spelled out, not spread: see computeNAInfo). */
function naAttrs(window: ReturnType<typeof windowAttrs>, scale: number, allowTf32: boolean | undefined) {
  return {kernelSize: window.kernelSize, stride: window.stride, dilation: window.dilation, isCausal: window.isCausal,
          scale, allowTf32};
}

/** Checks query and key (and value when given) against each other. */
function checkQKV(op: string, naDim: NADim, q: unknown, k: unknown, v: unknown | null) {
  const rank = naDim + 3;
  const query = checkTensor(op, 'query', q, rank, layout(naDim, 'heads', 'headDim'));
  const key = checkTensor(op, 'key', k, rank, layout(naDim, 'headsKv', 'headDim'));
  const spatialAxes = [...Array(naDim + 1).keys()];
  checkSameAxes(op, 'query', query, 'key', key, spatialAxes, 'batch and spatial sizes');
  checkSameAxes(op, 'query', query, 'key', key, [rank - 1], 'headDim (last axis)');
  const heads = query.shape[rank - 2], headsKv = key.shape[rank - 2];
  check(op, heads % headsKv === 0,
        () => `query heads (${heads}) must be a multiple of key heads (${headsKv}) (GQA/MQA), got query [${
            query.shape}] and key [${key.shape}]`);
  let value: Tensor | null = null;
  if (v !== null) {
    value = checkTensor(op, 'value', v, rank, layout(naDim, 'headsKv', 'headDimV'));
    checkSameAxes(op, 'key', key, 'value', value, [...spatialAxes, rank - 2], 'batch, spatial sizes and heads');
  }
  return {query, key, value};
}

function checkRpb(op: string, rpb: unknown, heads: number, kernelSize: number[]): Tensor {
  const expected = [heads, ...kernelSize.map(k => 2 * k - 1)];
  const t = checkTensor(op, 'rpb', rpb, expected.length, '[heads, 2*k0-1, ...]');
  check(op, t.shape.every((n, a) => n === expected[a]),
        () => `rpb must have shape [${expected}] ([heads, 2*kernelSize-1 per axis]), got [${t.shape}]`);
  return t;
}

/** Extra tokens `[batch, nExtra, headsKv, dim]`; `expected` gives batch, headsKv and dim (axis 1 is free). */
function checkExtra(op: string, name: string, x: unknown, refName: string, expected: number[], what: string):
    Tensor {
  const t = checkTensor(op, name, x, 4, `[batch, nExtra, headsKv, ${what}]`);
  check(op, t.shape[0] === expected[0] && t.shape[2] === expected[2] && t.shape[3] === expected[3],
        () => `${name} must have shape [${expected[0]}, nExtra, ${expected[2]}, ${expected[3]}] ([batch, nExtra, ` +
            `headsKv, ${what}] matching ${refName}), got [${t.shape}]`);
  return t;
}

function extraTokens(op: string, options: NAOptions, batch: number, headsKv: number, headDim: number,
                     headDimV: number | null) {
  const hasK = options.additionalKeys !== undefined, hasV = options.additionalValues !== undefined;
  const out: {additionalKeys?: Tensor, additionalValues?: Tensor} = {};
  if (headDimV === null) {
    // QK: only the extra keys take part.
    if (hasK) {
      out.additionalKeys = checkExtra(op, 'additionalKeys', options.additionalKeys, 'key',
                                      [batch, 0, headsKv, headDim], 'headDim');
    }
    return out;
  }
  if (hasK !== hasV) {
    fail(op, `additionalKeys and additionalValues must be given together, got ${
                 hasK ? 'additionalKeys' : 'additionalValues'} only`);
  }
  if (hasK) {
    out.additionalKeys = checkExtra(op, 'additionalKeys', options.additionalKeys, 'key',
                                    [batch, 0, headsKv, headDim], 'headDim');
    out.additionalValues = checkExtra(op, 'additionalValues', options.additionalValues, 'value',
                                      [batch, 0, headsKv, headDimV], 'headDimV');
    check(op, out.additionalKeys.shape[1] === out.additionalValues.shape[1],
          () => `additionalKeys and additionalValues must have the same number of tokens (axis 1), got ${
              out.additionalKeys!.shape[1]} and ${out.additionalValues!.shape[1]}`);
  }
  return out;
}

/** Validates a fused `naXd(query, key, value, options)` call. */
export function prepareFused(op: string, naDim: NADim, q: unknown, k: unknown, v: unknown,
                             opts: unknown): NACall {
  const options = checkOptionsObject(op, opts);
  const {query, key, value} = checkQKV(op, naDim, q, k, v);
  const dims = dimsFromQKV(query.shape, key.shape, value!.shape, 0, options.rpb !== undefined);
  const window = windowAttrs(op, naDim, options, dims.spatial);
  const attrs = naAttrs(window, checkScale(op, options.scale, dims.headDim), checkAllowTf32(op, options.allowTf32));
  const returnLse = checkReturnLse(op, options.returnLse);
  const inputs: Record<string, Tensor> = {query, key, value: value!};
  if (options.rpb !== undefined) {
    inputs.rpb = checkRpb(op, options.rpb, dims.heads, window.kernelSize);
  }
  Object.assign(inputs, extraTokens(op, options, dims.batch, dims.headsKv, dims.headDim, dims.headDimV));
  dims.nExtra = inputs.additionalKeys ? inputs.additionalKeys.shape[1]! : 0;
  return {info: computeNAInfo(dims, attrs), attrs, inputs, returnLse};
}

/** Validates a split `naXdQK(query, key, options)` call. */
export function prepareQK(op: string, naDim: NADim, q: unknown, k: unknown, opts: unknown): NACall {
  const options = checkOptionsObject(op, opts);
  const {query, key} = checkQKV(op, naDim, q, k, null);
  const dims = dimsFromQKV(query.shape, key.shape, null, 0, options.rpb !== undefined);
  const window = windowAttrs(op, naDim, options, dims.spatial);
  const attrs = naAttrs(window, checkScale(op, options.scale, dims.headDim), checkAllowTf32(op, options.allowTf32));
  const inputs: Record<string, Tensor> = {query, key};
  if (options.rpb !== undefined) {
    inputs.rpb = checkRpb(op, options.rpb, dims.heads, window.kernelSize);
  }
  Object.assign(inputs, extraTokens(op, options, dims.batch, dims.headsKv, dims.headDim, null));
  dims.nExtra = inputs.additionalKeys ? inputs.additionalKeys.shape[1]! : 0;
  return {info: computeNAInfo(dims, attrs), attrs, inputs, returnLse: false};
}

/** Validates a split `naXdAV(weights, value, options)` call. */
export function prepareAV(op: string, naDim: NADim, w: unknown, v: unknown, opts: unknown): NACall {
  const options = checkOptionsObject(op, opts);
  const rank = naDim + 3;
  const weights = checkTensor(op, 'weights', w, rank, layout(naDim, 'heads', 'kernelVolume + nExtra'));
  const value = checkTensor(op, 'value', v, rank, layout(naDim, 'headsKv', 'headDimV'));
  const spatialAxes = [...Array(naDim + 1).keys()];
  checkSameAxes(op, 'weights', weights, 'value', value, spatialAxes, 'batch and spatial sizes');
  const heads = weights.shape[rank - 2], headsKv = value.shape[rank - 2];
  check(op, heads % headsKv === 0,
        () => `weights heads (${heads}) must be a multiple of value heads (${headsKv}) (GQA/MQA), got weights [${
            weights.shape}] and value [${value.shape}]`);
  const window = windowAttrs(op, naDim, options, value.shape.slice(1, rank - 2));
  const attrs = naAttrs(window, 1, checkAllowTf32(op, options.allowTf32));
  const inputs: Record<string, Tensor> = {weights, value};
  if (options.additionalValues !== undefined) {
    inputs.additionalValues = checkExtra(op, 'additionalValues', options.additionalValues, 'value',
                                         [value.shape[0], 0, headsKv, value.shape[rank - 1]], 'headDimV');
  }
  const nExtra = inputs.additionalValues ? inputs.additionalValues.shape[1]! : 0;
  const kernelVolume = window.kernelSize.reduce((a, b) => a * b, 1);
  check(op, weights.shape[rank - 1] === kernelVolume + nExtra,
        () => `weights last axis must be kernelVolume + nExtra = ${kernelVolume} + ${nExtra} = ${
            kernelVolume + nExtra}, got ${weights.shape[rank - 1]} (shape [${weights.shape}])`);
  return {info: computeNAInfo(dimsFromAV(weights.shape, value.shape, kernelVolume), attrs), attrs, inputs,
          returnLse: false};
}
