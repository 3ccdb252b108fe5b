/**
 * Fused NA backward, query-tiled pass: dq (see tiled_wgsl.ts). The same tiles and key chunks as the tiled
 * forward; per chunk it recomputes the weights from the saved logsumexp (`p = exp(s - lse)`) with the score
 * GEMM, computes `dP = dO . v` with a second GEMM, `dS = p (dP - delta)` into workgroup memory, and accumulates
 * `dq += scale * dS . k` in registers. Nothing of size tokens x K is stored. A thread whose part of a row comes out
 * non-finite redoes it over the row's window alone (exactRows in tiled_wgsl.ts). Output: dq
 * `[batch*tokens*heads*headDim]`.
 *
 * With `rpbSlots` > 0 (rpb, and room for it: fusedRpbSlots in rpb_grad_webgpu.ts) the pass also sums the rpb gradient: each thread adds
 * its pairs' dS into a workgroup table of the head's rpb entries (a float add by compare-and-swap on the bits:
 * WGSL has no float atomics; the order of the adds is not fixed), and the workgroup writes the table, after dq,
 * as row (head * batch + b) * tiles + tile of `[rows, rpbVolume]` partial sums (zeros for tiles with no queries),
 * which rpbPartialSums (rpb_grad_webgpu.ts) adds up per head. The separate rpb passes recompute every dS.
 */
import {GEOMETRY_WGSL, NAProgram} from './program_util';
import {unroll} from './row_wgsl';
import {byColumnKind, columnPositions, exactRows, exactRowSums, groupOf, maskedScore, NON_FINITE_WGSL,
        QUERY_TILE_WGSL, queryChunkTables, queryTilePrologue, TiledWgsl, tiledComponents} from './tiled_wgsl';
import {gemmTraitsKey, GemmTileTraits, threads, TiledDims, workgroupOrder} from './tile_traits';

export class NABackwardQueryProgram extends NAProgram {
  variableComponents: number[];

  constructor(private traits: GemmTileTraits, private dims: TiledDims, private hasRpb: boolean,
              private hasExtra: boolean, outputSize: number, workgroupCount: number, maxPerDimension: number,
              private rpbSlots = 0) {
    super('backward_dq', `${gemmTraitsKey(traits, dims)}_${hasRpb ? 'rpb' : ''}_${hasExtra ? 'extra' : ''}${
              rpbSlots > 0 ? `_r${rpbSlots}` : ''}`,
          ['query', 'key', 'value', 'dOut', 'stats', ...(hasRpb ? ['rpb'] : []), ...(hasExtra ? ['extras'] : [])],
          outputSize, workgroupCount, threads(traits), maxPerDimension);
    this.variableComponents = tiledComponents(dims, this.variableNames);
  }

  /** Statements: row i's dq sums (the thread's columns) recomputed over the row's window and the extra tokens. */
  private exactRow(i: number): string {
    const weight = (ldKey: string, ldValue: string) => `
          var dp = 0.0;
          for (var d4 = 0; d4 < (uniforms.headDimV + 3) / 4; d4++) {
            dp += dot(ldDOut(outRow_${i}, d4), ${ldValue}(krow, d4));
          }
          let w = exp(s * uniforms.scale + kbias - lse_${i}) * (dp - delta_${i});`;
    return exactRowSums(i, this.dims.dk / (4 * this.traits.gc), this.hasRpb, this.hasExtra, 'o', weight, 'key');
  }

  getUserCode(): string {
    const g = new TiledWgsl(this.traits, this.dims);
    const {tm, tn, gc, dimChunk} = this.traits;
    const ndc = this.dims.dk / dimChunk, ndcv = this.dims.dv / dimChunk, nkv = this.dims.dk / (4 * gc);
    const byKind = (key: string, extra: string) => byColumnKind(this.hasExtra, key, extra);
    const dScore = (i: number, j: number) => {
      const {vis, bias} = maskedScore(i, j, this.hasRpb, this.hasExtra);
      return `
    s_${i}_${j} = select(0.0, exp(s_${i}_${j} * uniforms.scale${bias && ` + ${bias}`} - lse_${i}) * (dp_${i}_${j} - delta_${i}),
                         ${vis});`;
    };
    const fused = this.rpbSlots > 0, T = threads(this.traits);
    const rpbDecl = fused ? `
var<workgroup> rpbTable : array<atomic<u32>, ${this.rpbSlots}>;

// rpbTable[e] += v, as floats (compare-and-swap on the bits).
fn rpbAdd(e : i32, v : f32) {
  var old = atomicLoad(&rpbTable[e]);
  loop {
    let r = atomicCompareExchangeWeak(&rpbTable[e], old, bitcast<u32>(bitcast<f32>(old) + v));
    if (r.exchanged) {
      break;
    }
    old = r.old_value;
  }
}

// Where this workgroup's partial sums go: row (head * batch + b) * tiles + tile, after dq.
fn rpbRow(t : QueryTile) -> i32 {
  let numTiles = uniforms.tiles.x * uniforms.tiles.y * uniforms.tiles.z;
  return uniforms.batch * uniforms.numTokens * uniforms.heads * uniforms.headDim +
      ((t.h * uniforms.batch + t.b) * numTiles + t.tile) * rpbVolume();
}` : '';
    const group = groupOf(workgroupOrder(this.traits));
    const rpbZero = fused ? `
  for (var e = lid; e < rpbVolume(); e += ${T}) {
    atomicStore(&rpbTable[e], 0u);
  }` : '';
    const rpbEmpty = fused ? `
    if (workgroupIndex() < uniforms.workgroupCount) {
      let base = rpbRow(t);
      for (var e = lid; e < rpbVolume(); e += ${T}) {
        result[base + e] = 0.0;
      }
    }` : '';
    // Along each diagonal of the thread's block (row i + 1, column j + 1) the entries are often equal (consecutive
    // queries and keys on the last axis): runs of equal entries are summed first, one compare-and-swap per run.
    const diagonal = (dd: number) => {
      const pairs: Array<[number, number]> = [];
      for (let i = 0; i < tm; i++) {
        if (i + dd >= 0 && i + dd < tn) {
          pairs.push([i, i + dd]);
        }
      }
      return `
      {
        var e = -1;
        var sum = 0.0;${pairs.map(([i, j]) => `
        if ((bitcast<u32>(s_${i}_${j}) & 0x7fffffffu) != 0u) {
          let ej = clamp(rb_${i} + cp${j}.w - t.h * rpbVolume(), 0, ${this.rpbSlots - 1});
          if (ej != e) {
            if (e >= 0) {
              rpbAdd(e, sum);
            }
            e = ej;
            sum = 0.0;
          }
          sum += s_${i}_${j};
        }`).join('')}
        if (e >= 0) {
          rpbAdd(e, sum);
        }
      }`;
    };
    const rpbAdds = fused ? `
    // The rpb gradient's terms: dS of the pairs inside the windows (the others are 0), not of extra tokens. Zeros
    // are tested on the bits, so that a NaN term is never taken for one (a compiler may assume floats finite).
    if (!isExtra) {${Array.from({length: tm + tn - 1}, (_, k) => diagonal(k - (tm - 1))).join('')}
    }` : '';
    const rpbStore = fused ? `
  workgroupBarrier();
  let rpbBase = rpbRow(t);
  for (var e = lid; e < rpbVolume(); e += ${T}) {
    result[rpbBase + e] = bitcast<f32>(atomicLoad(&rpbTable[e]));
  }` : '';
    return `
${g.header()}
${GEOMETRY_WGSL}
${QUERY_TILE_WGSL}
${NON_FINITE_WGSL}${rpbDecl}
${g.loader('ldQuery', 'query', 'uniforms.headDim')}
${g.loader('ldDOut', 'dOut', 'uniforms.headDimV')}
${g.loader('ldKey', 'key', 'uniforms.headDim')}
${g.loader('ldValue', 'value', 'uniforms.headDimV')}
${this.hasExtra ? g.loader('ldExtraKey', 'extras', 'uniforms.headDim') : ''}
${this.hasExtra ? g.loader('ldExtraValue', 'extras', 'uniforms.headDimV', 'extraValuesOffset()') : ''}

fn main(index : i32) {
  let lid = i32(localIndex);${g.threadCoords()}
  let t = makeQueryTile(workgroupIndex(), ${group});
  if (lid == 0) {
    chunkCount = t.chunks;
  }
  let chunks = workgroupUniformLoad(&chunkCount);
  if (chunks == 0) {${rpbEmpty}
    return;
  }${rpbZero}
${queryTilePrologue(g)}
  // The rows' logsumexp and delta (stats of row -1: never used, its scores are masked).
${unroll(tm, i => `  let outRow_${i} = select(-1, (t.b * uniforms.numTokens + tokenOf(t.g + uniforms.dilation.xyz * rowHat_${i})) *
      uniforms.heads + t.h, rowValid_${i});
  let st_${i} = stats[max(outRow_${i}, 0)];
  let lse_${i} = st_${i}.x;
  let delta_${i} = st_${i}.y;`)}
  ${g.declareBlock('s')}
  ${g.declareBlock('dp')}
  ${g.declareAcc('o', nkv)}
  for (var c = 0; c < chunks; c++) {
    workgroupBarrier();
${queryChunkTables()}
${g.scoreGemm('s', ndc, 'ldQuery', dc => byKind(g.stageCols('ldKey', dc), g.stageCols('ldExtraKey', dc)))}
${g.scoreGemm('dp', ndcv, 'ldDOut', dc => byKind(g.stageCols('ldValue', dc), g.stageCols('ldExtraValue', dc)))}
    // dS = p (dP - delta), 0 outside the rows' windows.
${columnPositions(g, this.hasExtra)}
${unroll(tm, i => unroll(tn, j => dScore(i, j), ''), '')}${rpbAdds}
${g.writeProbs('s')}
${g.accumulate('o', nkv, n => byKind(g.stageChunkRows('ldKey', n), g.stageChunkRows('ldExtraKey', n)))}
  }
  // Rows whose part came out non-finite: redone over their window alone (exactRows), unless their logsumexp is
  // non-finite (every weight of the row, so every dS and its dq, is NaN then: exact already, and a diverged step's
  // rows cost nothing here).
${exactRows(g, 'o', nkv, i => this.exactRow(i), i => `nonFinite(lse_${i})`)}
${g.storeAcc('o', nkv, 'uniforms.headDim', () => 'uniforms.scale')}${rpbStore}
}
`;
  }
}
