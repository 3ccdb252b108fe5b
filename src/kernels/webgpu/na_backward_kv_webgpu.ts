/**
 * Fused NA backward, dk and dv, register-blocked (the tiles of tiled_wgsl.ts with keys as rows): a workgroup
 * takes a tile of keys of one kv head (consecutive in-group positions of one dilation group per axis) and walks,
 * for each query head of its GQA group, the box of queries whose windows can hold them (per axis, the inverse
 * windows of the tile's first and last key: getInverseWindowStart/End), in chunks of BK queries (columns).
 * Per chunk:
 * 1. one thread per column decodes its query once: its row in the query/dO/stats buffers (`colRow`), its window
 *    [start, end) per axis (`colPos.xyz`, `colEnd.xyz`) and its part of the rpb offset (`colPos.w`);
 * 2. `S^T = K Q^T` and `dP^T = V dO^T`: score GEMMs over the head dims, key and value rows staged per dim step;
 * 3. `P^T = exp(S^T scale + bias - lse)` inside each query's window (exactly 0 elsewhere) and
 *    `dS^T = P^T (dP^T - delta)`, from the saved logsumexp and delta (`stats`);
 * 4. `dv += P^T dO`, then `dk += dS^T Q` (accumulation GEMMs; the weights tile written once for each).
 * Nothing of size tokens x K is stored, no atomics: each key row is summed by one thread row of one workgroup.
 * A key row whose part of dk or dv comes out non-finite is redone over the queries that see it alone (the tiles
 * multiply every query of a chunk, masked ones by an exact zero, so an Inf or NaN in the query or output gradient
 * of a query that does not see the key would enter as 0 * Inf = NaN).
 * Output packed in one buffer: `[dk (batch*tokens*headsKv*headDim) | dv (batch*tokens*headsKv*headDimV)]`.
 * The extra tokens' rows have their own program (na_backward_extra_webgpu.ts).
 */
import {GEOMETRY_WGSL, NAProgram} from './program_util';
import {unroll} from './row_wgsl';
import {groupOf, LINEAR_BOUNDS_WGSL, NON_FINITE_WGSL, TILE_GRID_WGSL, TiledWgsl, tiledComponents} from './tiled_wgsl';
import {gemmCols, gemmTraitsKey, GemmTileTraits, threads, TiledDims, workgroupOrder} from './tile_traits';

/** Workgroup memory this program declares beyond TiledWgsl's header: `colEnd`, one vec4 per chunk column. */
export function kvExtraBytes(t: GemmTileTraits): number {
  return 16 * gemmCols(t);
}

export class NABackwardKVProgram extends NAProgram {
  variableComponents: number[];

  constructor(private traits: GemmTileTraits, private dims: TiledDims, private hasRpb: boolean, outputSize: number,
              workgroupCount: number, maxPerDimension: number) {
    super('backward_kv', `${gemmTraitsKey(traits, dims)}_${hasRpb ? 'rpb' : ''}`,
          ['query', 'key', 'value', 'dOut', 'stats', ...(hasRpb ? ['rpb'] : [])], outputSize, workgroupCount,
          threads(traits), maxPerDimension);
    this.variableComponents = tiledComponents(dims, this.variableNames);
  }

  /**
   * Statements (after the chunk loop): each of the thread's key rows whose part of dk or dv came out non-finite
   * is recomputed over the queries that see the key, in every head of the group, in order (one copy of the code,
   * run for each such row: it compiles several times faster than a copy per row), stopping once every one of its
   * sums is NaN (a NaN sum stays NaN).
   */
  private exactRows(nkv: number, nvv: number): string {
    const {tm} = this.traits;
    const stop = [...Array.from({length: nkv}, (_, n) => `allNan4(x_${n})`),
                  ...Array.from({length: nvv}, (_, n) => `allNan4(y_${n})`)].join(' && ');
    const bad = (i: number) => [...Array.from({length: nkv}, (_, n) => `nonFinite4(ak_${i}_${n})`),
                                ...Array.from({length: nvv}, (_, n) => `nonFinite4(av_${i}_${n})`)].join(' || ');
    return `
  for (var i = 0; i < TM; i++) {
    var redo = false;
${unroll(tm, i => `    redo = redo || (i == ${i} && rowValid_${i} && (${bad(i)}));`)}
    if (!redo) {
      continue;
    }
    let jHat = t.j0 + tileCoord(tr * TM + i);
    let krow = (t.b * uniforms.numTokens + tokenOf(t.g + uniforms.dilation.xyz * jHat)) * uniforms.headsKv + t.hk;
    let ilo = inverseStart(t, jHat);
    let ilen = inverseEnd(t, jHat) - ilo;
    let queries = ilen.x * ilen.y * ilen.z;
    ${unroll(nkv, n => `var x_${n} = vec4<f32>(0.0);`, ' ')}
    ${unroll(nvv, n => `var y_${n} = vec4<f32>(0.0);`, ' ')}
    for (var hh = 0; hh < uniforms.headsPerKv && !(${stop}); hh++) {
      let h = t.hk * uniforms.headsPerKv + hh;
      for (var n = 0; n < queries && !(${stop}); n++) {
        let hat = ilo + vec3<i32>(n / (ilen.y * ilen.z), (n / ilen.z) % ilen.y, n % ilen.z);
        let qrow = (t.b * uniforms.numTokens + tokenOf(t.g + uniforms.dilation.xyz * hat)) * uniforms.heads + h;
        let st = stats[qrow];
        var s = 0.0;
        for (var d4 = 0; d4 < (uniforms.headDim + 3) / 4; d4++) {
          s += dot(ldKey(krow, d4), ldQuery(qrow, d4));
        }
        var dp = 0.0;
        for (var d4 = 0; d4 < (uniforms.headDimV + 3) / 4; d4++) {
          dp += dot(ldValue(krow, d4), ldDOut(qrow, d4));
        }
        let bias = ${this.hasRpb ? `rpb[max(rpbPart(jHat) + h * rpbVolume() +
                                            rpbPart(uniforms.kernel.xyz - vec3<i32>(1)) - rpbPart(hat), 0)]` : '0.0'};
        let p = exp(s * uniforms.scale + bias - st.x);
        let ds = p * (dp - st.y);
${unroll(nkv, n => `        x_${n} = fma(vec4<f32>(ds), ldQuery(qrow, ${n} * GC + tc), x_${n});`)}
${unroll(nvv, n => `        y_${n} = fma(vec4<f32>(p), ldDOut(qrow, ${n} * GC + tc), y_${n});`)}
      }
    }
${unroll(tm, i => `    if (i == ${i}) {
      ${unroll(nkv, n => `ak_${i}_${n} = x_${n};`, ' ')}
      ${unroll(nvv, n => `av_${i}_${n} = y_${n};`, ' ')}
    }`)}
  }`;
  }

  getUserCode(): string {
    const g = new TiledWgsl(this.traits, this.dims);
    const {tm, tn, gc, dimChunk} = this.traits;
    const ndc = this.dims.dk / dimChunk, ndcv = this.dims.dv / dimChunk;
    const nkv = this.dims.dk / (4 * gc), nvv = this.dims.dv / (4 * gc);
    const bias = (i: number, j: number) => (this.hasRpb ? ` + rpb[max(rb_${i} + cp${j}.w, 0)]` : '');
    const weights = (i: number, j: number) => `
    {
      let vis = rowValid_${i} && inWindow(rowHat_${i}, cp${j}.xyz, ce${j}.xyz - cp${j}.xyz);
      s_${i}_${j} = select(0.0, exp(s_${i}_${j} * uniforms.scale${bias(i, j)} - st${j}.x), vis);
      dp_${i}_${j} = select(0.0, s_${i}_${j} * (dp_${i}_${j} - st${j}.y), vis);
    }`;
    return `
${g.header('var<workgroup> colEnd : array<vec4<i32>, BK>;')}
${GEOMETRY_WGSL}
${TILE_GRID_WGSL}
${LINEAR_BOUNDS_WGSL}
${NON_FINITE_WGSL}
${g.loader('ldQuery', 'query', 'uniforms.headDim')}
${g.loader('ldDOut', 'dOut', 'uniforms.headDimV')}
${g.loader('ldKey', 'key', 'uniforms.headDim')}
${g.loader('ldValue', 'value', 'uniforms.headDimV')}

struct KeyTile {
  b : i32,
  hk : i32,
  g : vec3<i32>,
  j0 : vec3<i32>,
  glen : vec3<i32>,
  boxStart : vec3<i32>,
  boxLen : vec3<i32>,
  boxVol : i32,
  boxChunks : i32,
  chunks : i32,
  empty : bool,
};

// The workgroup's key tile and the box of queries that can see its keys (every query head of the kv head's group
// walks it: chunks = boxChunks * headsPerKv).
fn makeKeyTile(wg : i32) -> KeyTile {
  var t : KeyTile;
  let grid = tileGrid(wg, uniforms.headsKv, ${groupOf(workgroupOrder(this.traits), true)}, vec3<i32>(T0, T1, T2));
  t.hk = grid.inner;
  t.b = grid.b;
  t.g = grid.g;
  t.j0 = grid.first;
  t.glen = grid.glen;
  t.empty = grid.empty;
  t.boxVol = 1;
  let shape = vec3<i32>(T0, T1, T2);
  for (var a = 0; a < 3; a++) {
    let last = min(t.j0[a] + shape[a], t.glen[a]) - 1;
    let k = uniforms.kernel[a];
    let s = uniforms.stride[a];
    let c = axisCausal(a);
    t.boxStart[a] = getInverseWindowStart(t.j0[a], k, s, t.glen[a], c);
    t.boxLen[a] = max(getInverseWindowEnd(last, k, s, t.glen[a], c) - t.boxStart[a], 0);
    t.boxVol *= t.boxLen[a];
  }
  t.boxChunks = (t.boxVol + BK - 1) / BK;
  t.chunks = t.boxChunks * uniforms.headsPerKv;
  return t;
}

fn inverseStart(t : KeyTile, jHat : vec3<i32>) -> vec3<i32> {
  var w : vec3<i32>;
  for (var a = 0; a < 3; a++) {
    w[a] = getInverseWindowStart(jHat[a], uniforms.kernel[a], uniforms.stride[a], t.glen[a], axisCausal(a));
  }
  return w;
}

fn inverseEnd(t : KeyTile, jHat : vec3<i32>) -> vec3<i32> {
  var w : vec3<i32>;
  for (var a = 0; a < 3; a++) {
    w[a] = getInverseWindowEnd(jHat[a], uniforms.kernel[a], uniforms.stride[a], t.glen[a], axisCausal(a));
  }
  return w;
}

fn main(index : i32) {
  let lid = i32(localIndex);${g.threadCoords()}
  let t = makeKeyTile(workgroupIndex());
  if (lid == 0) {
    chunkCount = select(t.chunks, -1, t.empty);
  }
  // Only tiles past their group return: a tile with no query to walk (chunks 0) would still write its zeros (the
  // spec's strides, never over the kernel, leave no key outside every window, but nothing here relies on it).
  let chunks = workgroupUniformLoad(&chunkCount);
  if (chunks < 0) {
    return;
  }
  for (var r = lid; r < BQ; r += THREADS) {
    let hat = t.j0 + tileCoord(r);
    rowRow[r] = select(-1, (t.b * uniforms.numTokens + tokenOf(t.g + uniforms.dilation.xyz * hat)) * uniforms.headsKv + t.hk,
                       all(hat < t.glen));
  }
${unroll(tm, i => `  let rowHat_${i} = t.j0 + tileCoord(tr * TM + ${i});
  let rowValid_${i} = all(rowHat_${i} < t.glen);
  let outRow_${i} = select(-1, (t.b * uniforms.numTokens + tokenOf(t.g + uniforms.dilation.xyz * rowHat_${i})) *
      uniforms.headsKv + t.hk, rowValid_${i});
  let rb_${i} = rpbPart(rowHat_${i});`)}
  // The warp's key rows (WARP_TR rows of the grid) as a range of the tile, clamped to the group, and the queries
  // that can see them (the union of their inverse windows, inclusive).
  let warpFirst = (tr / WARP_TR) * WARP_TR * TM;
  let wb = linearBounds(t.j0, vec3<i32>(T0, T1, T2), warpFirst, min(warpFirst + WARP_TR * TM, BQ) - 1);
  let warpRowsValid = all(wb.lo < t.glen);
  let warpLo = inverseStart(t, wb.lo);
  let warpHi = inverseEnd(t, min(wb.hi, t.glen - vec3<i32>(1))) - vec3<i32>(1);
  ${g.declareBlock('s')}
  ${g.declareBlock('dp')}
  ${g.declareAcc('ak', nkv)}
  ${g.declareAcc('av', nvv)}
  for (var c = 0; c < chunks; c++) {
    workgroupBarrier();
    let h = t.hk * uniforms.headsPerKv + c / t.boxChunks;
    let kc = c % t.boxChunks;
    if (lid < BK) {
      var row = -1;
      var pos = vec4<i32>(FAR, FAR, FAR, 0);
      var end = vec4<i32>(FAR, FAR, FAR, 0);
      let lin = kc * BK + lid;
      if (lin < t.boxVol) {
        let bl = t.boxLen;
        let hat = t.boxStart + vec3<i32>(lin / (bl.y * bl.z), (lin / bl.z) % bl.y, lin % bl.z);
        row = (t.b * uniforms.numTokens + tokenOf(t.g + uniforms.dilation.xyz * hat)) * uniforms.heads + h;
        for (var a = 0; a < 3; a++) {
          let k = uniforms.kernel[a];
          let ca = axisCausal(a);
          pos[a] = getWindowStart(hat[a], k, uniforms.stride[a], t.glen[a], ca);
          end[a] = getWindowEnd(hat[a], pos[a], k, t.glen[a], ca);
        }
        pos.w = h * rpbVolume() + rpbPart(uniforms.kernel.xyz - vec3<i32>(1)) - rpbPart(hat);
      }
      colRow[lid] = row;
      colPos[posSlot(lid)] = pos;
      colEnd[posSlot(lid)] = end;
    }
    if (lid == THREADS - 1) {
      let cb = linearBounds(t.boxStart, t.boxLen, kc * BK, min(kc * BK + BK, t.boxVol) - 1);
      chunkLo[0] = cb.lo;
      chunkHi[0] = cb.hi;
    }
    workgroupBarrier();
    let warpActive = warpRowsValid && all(chunkLo[0] <= warpHi) && all(chunkHi[0] >= warpLo);
${g.scoreGemm('s', ndc, 'ldKey', dc => g.stageCols('ldQuery', dc))}
${g.scoreGemm('dp', ndcv, 'ldValue', dc => g.stageCols('ldDOut', dc))}
    // P = exp(s - lse) and dS = P (dP - delta) inside each query's window, exactly 0 elsewhere.
${unroll(tn, j => `    let cp${j} = colPos[posSlot(tc * TN + ${j})]; let ce${j} = colEnd[posSlot(tc * TN + ${j})]; let st${j} = stats[max(colRow[tc * TN + ${
        j}], 0)];`)}
${unroll(tm, i => unroll(tn, j => weights(i, j), ''), '')}
${g.writeProbs('s')}
${g.accumulate('av', nvv, n => g.stageChunkRows('ldDOut', n))}
    workgroupBarrier();
${g.writeProbs('dp')}
${g.accumulate('ak', nkv, n => g.stageChunkRows('ldQuery', n))}
  }
  // Key rows whose part came out non-finite: redone over the queries that see them alone.${this.exactRows(nkv, nvv)}
  let rowsTotal = uniforms.batch * uniforms.numTokens * uniforms.headsKv;
${g.storeAcc('ak', nkv, 'uniforms.headDim', () => 'uniforms.scale')}
${g.storeAcc('av', nvv, 'uniforms.headDimV', () => '1.0', 'rowsTotal * uniforms.headDim')}
}
`;
  }
}
