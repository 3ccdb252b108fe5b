/**
 * Fused NA forward for small windows, "halo" version: one workgroup per (batch, query tile, head) stages the
 * keys and values of the tile's whole box (the union of its rows' windows: the halo) in workgroup memory once,
 * then each row's PARTS threads walk the row's own window from there (exact work, like the row programs, but
 * reading workgroup memory instead of global memory: a key row is read from global memory once per tile
 * instead of once per query that sees it). Part p of a row takes the window's keys p, p + PARTS, ... along the
 * last axis (and the extra tokens likewise, from global memory), with its own online softmax; the parts are
 * merged through workgroup memory at the end. Output packed like the other forwards: `[output | logsumexp]`.
 *
 * Applies where the largest box of the call's tiles fits the device's workgroup memory (`planHalo(...).fits`); the
 * dispatcher picks it only when asked (NATTEN_WEBGPU_FUSED=halo): on the H200 it ran 2d-nat in 0.68 ms, slower than
 * the tiled forward (0.46-0.57).
 */
import type {NAInfo} from '../../core/na_info';
import {getGroupLength, getWindowEnd, getWindowStart} from '../../core/na_mask';
import {DeviceLimits, GEOMETRY_WGSL, NAProgram, RESCALE_MARGIN} from './program_util';
import {rowComponents, RowDims, rowDims, rowDimsKey, rowPrelude, unroll} from './row_wgsl';
import {groupOf, QUERY_TILE_WGSL, rowLoader} from './tiled_wgsl';
import {DEFAULT_ORDER} from './tile_traits';

export interface HaloTraits {
  /** Query tile per padded axis, in dilation-group coordinates. */
  tile: [number, number, number];
  /** Threads per query row (each takes every PARTS-th key of the row's window along the last axis). */
  parts: number;
}

const HALO_TILES: Record<number, HaloTraits> = {
  1: {tile: [1, 1, 64], parts: 2},
  2: {tile: [1, 4, 8], parts: 4},
  3: {tile: [1, 2, 4], parts: 4},
};

/** The traits for a call: the rank's default, or `override` (HaloTraits as JSON, from NATTEN_WEBGPU_TILE). */
export function haloTraits(info: NAInfo, override = ''): HaloTraits {
  const t = override !== '' ? JSON.parse(override) as HaloTraits : HALO_TILES[info.naDim];
  const ok = Array.isArray(t.tile) && t.tile.length === 3 && t.tile.every(x => Number.isInteger(x) && x >= 1) &&
             Number.isInteger(t.parts) && t.parts >= 1;
  if (!ok) {
    throw new Error(`tfjs-natten webgpu: inconsistent halo traits ${JSON.stringify(t)}: expected a tile of three ` +
                    'positive integers and a positive number of parts');
  }
  return t;
}

/**
 * The largest box of the call's query tiles per axis (from src/core's window math over every tile of every
 * dilation group): what the program's workgroup memory must hold.
 */
export function haloBoxLengths(info: NAInfo, tile: [number, number, number]): number[] {
  return [0, 1, 2].map(a => {
    const [L, k, s, d, c] = [info.L3[a], info.k3[a], info.s3[a], info.d3[a], info.causal3[a]];
    let best = 1;
    const lengths = new Set(Array.from({length: Math.min(d, L)}, (_, g) => getGroupLength(L, d, g)));
    for (const glen of lengths) {
      for (let i0 = 0; i0 < glen; i0 += tile[a]) {
        const last = Math.min(i0 + tile[a], glen) - 1;
        const start = getWindowStart(i0, k, s, glen, c);
        best = Math.max(best, getWindowEnd(last, getWindowStart(last, k, s, glen, c), k, glen, c) - start);
      }
    }
    return best;
  });
}

/** Box keys the program bakes (the largest box, rounded up to 8 so that nearby shapes share a pipeline). */
export function haloCapacity(info: NAInfo, t: HaloTraits): number {
  const box = haloBoxLengths(info, t.tile).reduce((a, b) => a * b, 1);
  return Math.ceil(box / 8) * 8;
}

/** Vec4 slots of the staging area: keys and values of the box (rows padded by one slot), or the parts' merge. */
function haloSlots(t: HaloTraits, dims: RowDims, capacity: number): number {
  const rows = t.tile[0] * t.tile[1] * t.tile[2];
  return Math.max(capacity * (dims.dk / 4 + 1 + dims.dv / 4 + 1), rows * t.parts * (dims.dv / 4 + 1));
}

export function haloWorkgroupBytes(t: HaloTraits, dims: RowDims, capacity: number): number {
  return 16 * haloSlots(t, dims, capacity) + 4 * capacity + 16;
}

/** The halo program's configuration for a call, and whether the device holds it. */
export interface HaloPlan {
  traits: HaloTraits;
  dims: RowDims;
  capacity: number;
  bytes: number;
  threads: number;
  fits: boolean;
}

export function planHalo(info: NAInfo, limits: DeviceLimits, override = ''): HaloPlan {
  const traits = haloTraits(info, override);
  const dims = rowDims(info.headDim, info.headDimV), capacity = haloCapacity(info, traits);
  const bytes = haloWorkgroupBytes(traits, dims, capacity);
  const threads = traits.tile[0] * traits.tile[1] * traits.tile[2] * traits.parts;
  return {traits, dims, capacity, bytes, threads,
          fits: bytes <= limits.maxComputeWorkgroupStorageSize && threads <= limits.maxComputeInvocationsPerWorkgroup};
}

/** Throws, before any work, when the device cannot hold the plan (the error names the limits and the sizes). */
export function checkHalo(plan: HaloPlan, limits: DeviceLimits): void {
  if (!plan.fits) {
    throw new Error(`NattenNAForward (webgpu): the halo program needs ${plan.bytes} bytes of workgroup memory (a box of ${
        plan.capacity} keys) and ${plan.threads} threads, over the device's maxComputeWorkgroupStorageSize of ${
        limits.maxComputeWorkgroupStorageSize} or maxComputeInvocationsPerWorkgroup of ${
        limits.maxComputeInvocationsPerWorkgroup}`);
  }
}

export class NAForwardHaloProgram extends NAProgram {
  variableComponents: number[];

  constructor(private traits: HaloTraits, private dims: RowDims, private capacity: number, private hasRpb: boolean,
              private hasExtra: boolean, outputSize: number, workgroupCount: number, maxPerDimension: number) {
    super('forward_halo', `t${traits.tile.join('x')}_p${traits.parts}_c${capacity}_${rowDimsKey(dims)}_${
              hasRpb ? 'rpb' : ''}_${hasExtra ? 'extra' : ''}`,
          ['query', 'key', 'value', ...(hasRpb ? ['rpb'] : []), ...(hasExtra ? ['extras'] : [])], outputSize,
          workgroupCount, traits.tile[0] * traits.tile[1] * traits.tile[2] * traits.parts, maxPerDimension);
    this.variableComponents = rowComponents(this.dims, this.variableNames);
  }

  /** Statements: one key (its score from `kexpr(c)`, vec4 chunk c of its key row) into the online softmax. */
  private keyStep(kexpr: (c: number) => string, vexpr: (c: number) => string, bias: string): string {
    const dk4 = this.dims.dk / 4, dv4 = this.dims.dv / 4;
    let dot = `q0 * ${kexpr(0)}`;
    for (let c = 1; c < dk4; c++) {
      dot = `fma(q${c}, ${kexpr(c)}, ${dot})`;
    }
    return `
        let s = sum4(${dot}) * uniforms.scale${bias};
        if (s > m + RESCALE_MARGIN) {
          let r = exp(m - s);
          l *= r;
${unroll(dv4, c => `          acc${c} *= r;`)}
          m = s;
        }
        let p = exp(s - m);
        l += p;
${unroll(dv4, c => `        acc${c} = fma(vec4<f32>(p), ${vexpr(c)}, acc${c});`)}`;
  }

  getUserCode(): string {
    const {tile, parts} = this.traits;
    const dk4 = this.dims.dk / 4, dv4 = this.dims.dv / 4;
    const kRow = (j: string, c: number) => `kv[(${j}) * KS + ${c}]`;
    const vRow = (j: string, c: number) => `kv[VOFF + (${j}) * VS + ${c}]`;
    const extra = this.hasExtra ? `
  // The extra tokens (global memory): rows (b * nExtra + x) * headsKv + hk, never masked, no bias.
  for (var x = part; x < uniforms.nExtra; x += PARTS) {
    let er = (t.b * uniforms.nExtra + x) * uniforms.headsKv + t.hk;
    {${this.keyStep(c => `ldExtraKey(er, ${c})`, c => `ldExtraValue(er, ${c})`, '')}
    }
  }` : '';
    return `
${rowPrelude(this.dims)}
${GEOMETRY_WGSL}
const T0 = ${tile[0]};
const T1 = ${tile[1]};
const T2 = ${tile[2]};
const ROWS = ${tile[0] * tile[1] * tile[2]};
const PARTS = ${parts};
const THREADS = ROWS * PARTS;
const BK = 64;
const CAP = ${this.capacity};
// Staged rows: keys (KS slots each, one of padding against bank conflicts), then values from VOFF.
const KS = ${dk4 + 1};
const VS = ${dv4 + 1};
const VOFF = CAP * KS;
const RESCALE_MARGIN = ${RESCALE_MARGIN.toFixed(1)};

var<workgroup> kv : array<vec4<f32>, ${haloSlots(this.traits, this.dims, this.capacity)}>;
var<workgroup> boxRow : array<i32, CAP>;
var<workgroup> tileKeys : i32;

${QUERY_TILE_WGSL}
fn tileCoord(r : i32) -> vec3<i32> {
  return vec3<i32>(r / (T1 * T2), (r / T2) % T1, r % T2);
}
${rowLoader(this.dims.vec4, 'ldQuery', 'query', 'uniforms.headDim')}
${rowLoader(this.dims.vec4, 'ldKey', 'key', 'uniforms.headDim')}
${rowLoader(this.dims.vec4, 'ldValue', 'value', 'uniforms.headDimV')}
${this.hasExtra ? rowLoader(this.dims.vec4, 'ldExtraKey', 'extras', 'uniforms.headDim') : ''}
${this.hasExtra ? rowLoader(this.dims.vec4, 'ldExtraValue', 'extras', 'uniforms.headDimV', 'extraValuesOffset()') : ''}

fn main(index : i32) {
  let lid = i32(localIndex);
  let t = makeQueryTile(workgroupIndex(), ${groupOf(DEFAULT_ORDER)});
  if (lid == 0) {
    tileKeys = select(t.boxVol, 0, t.chunks == 0);
  }
  let keys = workgroupUniformLoad(&tileKeys);
  if (keys == 0) {
    return;
  }
  // The box's key rows, decoded once, then its keys and values staged.
  for (var j = lid; j < keys; j += THREADS) {
    boxRow[j] = (t.b * uniforms.numTokens + tokenOf(t.g + uniforms.dilation.xyz * boxKeyHat(t, j))) *
        uniforms.headsKv + t.hk;
  }
  workgroupBarrier();
  for (var e = lid; e < keys * DK4; e += THREADS) {
    kv[(e / DK4) * KS + e % DK4] = ldKey(boxRow[e / DK4], e % DK4);
  }
  for (var e = lid; e < keys * DV4; e += THREADS) {
    kv[VOFF + (e / DV4) * VS + e % DV4] = ldValue(boxRow[e / DV4], e % DV4);
  }
  workgroupBarrier();

  // Row r (consecutive threads: consecutive rows, so consecutive staged keys), part p.
  let r = lid % ROWS;
  let part = lid / ROWS;
  let hat = t.i0 + tileCoord(r);
  let valid = all(hat < t.glen);
  let outRow = select(-1, (t.b * uniforms.numTokens + tokenOf(t.g + uniforms.dilation.xyz * hat)) * uniforms.heads +
                            t.h, valid);
${unroll(dk4, c => `  let q${c} = ldQuery(outRow, ${c});`)}
${unroll(dv4, c => `  var acc${c} = vec4<f32>(0.0);`)}
  var m = NEG;
  var l = 0.0;
  let lo = queryWindowStart(t, hat);
  let len = select(vec3<i32>(0), queryWindowEnd(t, hat, lo) - lo, valid);
  let rel = lo - t.boxStart;
  let rb = t.h * rpbVolume() + rpbPart(uniforms.kernel.xyz - vec3<i32>(1)) - rpbPart(hat);
  for (var a0 = 0; a0 < len.x; a0++) {
    for (var a1 = 0; a1 < len.y; a1++) {
      let first = ((rel.x + a0) * t.boxLen.y + rel.y + a1) * t.boxLen.z + rel.z;
      ${this.hasRpb ? 'let biasFirst = rb + rpbPart(lo + vec3<i32>(a0, a1, 0));' : ''}
      for (var a2 = part; a2 < len.z; a2 += PARTS) {
        let j = first + a2;
        {${this.keyStep(c => kRow('j', c), c => vRow('j', c), this.hasRpb ? ' + rpb[biasFirst + a2]' : '')}
        }
      }
    }
  }${extra}

  // Merge the parts of each row: every part's (m, l) and accumulator through workgroup memory.
  workgroupBarrier();
  let mine = (part * ROWS + r) * (DV4 + 1);
${unroll(dv4, c => `  kv[mine + ${c}] = acc${c};`)}
  kv[mine + DV4] = vec4<f32>(m, l, 0.0, 0.0);
  workgroupBarrier();
  var mx = NEG;
  for (var p = 0; p < PARTS; p++) {
    mx = max(mx, kv[(p * ROWS + r) * (DV4 + 1) + DV4].x);
  }
  var total = 0.0;
  for (var p = 0; p < PARTS; p++) {
    let ml = kv[(p * ROWS + r) * (DV4 + 1) + DV4];
    total += ml.y * exp(ml.x - mx);
  }
  if (!valid) {
    return;
  }
  let ob = outRow * uniforms.headDimV;
  let inv = 1.0 / total;
${unroll(dv4, c => `  if (${c} % PARTS == part) {
    var o = vec4<f32>(0.0);
    for (var p = 0; p < PARTS; p++) {
      let at = (p * ROWS + r) * (DV4 + 1);
      o = fma(vec4<f32>(exp(kv[at + DV4].x - mx)), kv[at + ${c}], o);
    }
${unroll(4, i => `    if (${4 * c + i} < uniforms.headDimV) {
      result[ob + ${4 * c + i}] = o[${i}] * inv;
    }`)}
  }`)}
  if (part == 0) {
    result[uniforms.batch * uniforms.numTokens * uniforms.heads * uniforms.headDimV + outRow] = mx + log(total);
  }
}
`;
  }
}
