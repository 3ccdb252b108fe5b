/**
 * Keeps the composed fallback inside the active backend's buffer limits. Its largest tensor is a gathered
 * neighborhood, `batch * tokens * slots * heads * dim` floats; on a backend that exposes device limits
 * (webgpu: maxStorageBufferBindingSize, maxBufferSize) a call whose largest tensor would not fit runs in
 * chunks over batch, then over key/value heads (with their query heads), and the results are concatenated;
 * a call that does not fit even for one batch and one key/value head is refused before any work.
 */
import {backend, concat, env, getBackend, reshape, slice, Tensor} from '@tensorflow/tfjs-core';
import {computeNAInfo, NAInfo} from '../core/na_info';
import {NATTEN_COMPOSED_MAX_BYTES, registerFlags} from '../flags';

type Named = Record<string, Tensor>;
type Run = (info: NAInfo, inputs: Named) => Tensor[];

/**
 * The byte size of the largest buffer the active backend can bind (Infinity when it states none), lowered to
 * NATTEN_COMPOSED_MAX_BYTES when that is set.
 */
export function composedBufferLimit(): number {
  registerFlags();
  const limits = (backend() as unknown as {device?: {limits?: Record<string, number>}}).device?.limits;
  const device = limits == null ? Infinity :
                                  Math.min(limits.maxStorageBufferBindingSize ?? Infinity, limits.maxBufferSize ?? Infinity);
  const forced = env().getNumber(NATTEN_COMPOSED_MAX_BYTES);
  return forced > 0 ? Math.min(forced, device) : device;
}

/** Bytes of the composed version's largest tensor for a call of these sizes. */
export function composedLargestBytes(info: NAInfo): number {
  return 4 * info.batch * info.numTokens * info.numSlots * info.heads * Math.max(info.headDim, info.headDimV);
}

/** `x` as `[before axis, axis, after axis]`: slices and concatenations stay rank 3 (tfjs 4.22 webgpu got rank-5 ones wrong here). */
function view3(x: Tensor, axis: number): Tensor {
  const size = (dims: number[]) => dims.reduce((a, b) => a * b, 1);
  return reshape(x, [size(x.shape.slice(0, axis)), x.shape[axis], size(x.shape.slice(axis + 1))]);
}

function sliceAxis(x: Tensor, axis: number, start: number, size: number): Tensor {
  const v = view3(x, axis);
  const shape = x.shape.map((n, a) => (a === axis ? size : n));
  return reshape(slice(v, [0, start, 0], [v.shape[0]!, size, v.shape[2]!]), shape);
}

function concatAxis(xs: Tensor[], axis: number): Tensor {
  const shape = xs[0].shape.map((n, a) => (a === axis ? xs.reduce((m, x) => m + x.shape[a]!, 0) : n));
  return reshape(concat(xs.map(x => view3(x, axis)), 1), shape);
}

/** The heads axis of each named input (query and weights: heads; key, value, extras: kv heads; rpb: heads). */
function headsAxis(name: string, x: Tensor): number {
  if (name === 'rpb') {
    return 0;
  }
  return name === 'additionalKeys' || name === 'additionalValues' ? 2 : x.rank - 2;
}

function part(info: NAInfo, inputs: Named, b0: number, nb: number, k0: number, nk: number): [NAInfo, Named] {
  const g = info.headsPerKv;
  const out: Named = {};
  for (const [name, x] of Object.entries(inputs)) {
    let y = name === 'rpb' ? x : sliceAxis(x, 0, b0, nb);
    if (nk !== info.headsKv) {
      const perKv = name === 'query' || name === 'weights' || name === 'rpb';
      y = sliceAxis(y, headsAxis(name, x), perKv ? k0 * g : k0, perKv ? nk * g : nk);
    }
    out[name] = y;
  }
  const dims = {batch: nb, spatial: info.L3.slice(3 - info.naDim), heads: nk * g, headsKv: nk,
                headDim: info.headDim, headDimV: info.headDimV, nExtra: info.nExtra, hasRpb: info.hasRpb};
  const {kernelSize, stride, dilation, isCausal, scale} = info;
  return [computeNAInfo(dims, {kernelSize, stride, dilation, isCausal, scale}), out];
}

/** Runs `run` on the whole call, or in chunks that each fit the backend's buffer limit. */
export function inChunks(opName: string, info: NAInfo, inputs: Named, run: Run): Tensor[] {
  const limit = composedBufferLimit();
  const largest = composedLargestBytes(info);
  if (largest <= limit) {
    return run(info, inputs);
  }
  const perBatch = largest / info.batch, perKv = perBatch / info.headsKv;
  if (perKv > limit) {
    throw new Error(`${opName} (composed fallback on ${getBackend()}): one batch and key/value head needs a ${
        Math.ceil(perKv)}-byte tensor, over the backend's buffer limit (maxStorageBufferBindingSize) of ${
        limit} bytes`);
  }
  const nb = perBatch <= limit ? Math.floor(limit / perBatch) : 1;
  const nk = perBatch <= limit ? info.headsKv : Math.floor(limit / perKv);
  const rows: Tensor[][] = [];
  for (let b0 = 0; b0 < info.batch; b0 += nb) {
    const cols: Tensor[][] = [];
    for (let k0 = 0; k0 < info.headsKv; k0 += nk) {
      const [chunkInfo, chunk] = part(info, inputs, b0, Math.min(nb, info.batch - b0), k0, Math.min(nk, info.headsKv - k0));
      cols.push(run(chunkInfo, chunk));
    }
    // Heads are the second-to-last axis of the output and the logits, the last of the logsumexp.
    rows.push(cols[0].map((t, i) => cols.length === 1 ?
                                       t :
                                       concatAxis(cols.map(c => c[i]), t.rank === info.naDim + 2 ? t.rank - 1 : t.rank - 2)));
  }
  return rows[0].map((_, i) => rows.length === 1 ? rows[0][i] : concatAxis(rows.map(r => r[i]), 0));
}
