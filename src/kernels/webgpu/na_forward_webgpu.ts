/**
 * Fused NA forward, tiled (see tiled_wgsl.ts): one workgroup per (batch, query tile, head); with `resident`
 * traits the tile's query rows are staged once for every chunk, with `prefetch` the keys and values go through
 * registers loaded a step ahead. Per chunk of keys of
 * the tile's box (then of the extra tokens): the scores `q . k` (register-tiled GEMM), masked to each row's
 * window (skipped for chunks inside every row's window), the online softmax, and the weights times the chunk's
 * values accumulated in registers. It never writes the weights.
 *
 * Online softmax: each row keeps a reference `m` (the same in every thread of the row) and weights
 * `exp(s - m)`; each thread sums its own columns' weights. Only when some score exceeds its row's reference by
 * more than RESCALE_MARGIN (every row's first visible chunk, then rarely) do the rows take their exact maxima
 * as new references, through workgroup memory, and rescale. Output, packed into one buffer (one output per
 * program): `[output (batch*tokens*heads*headDimV) | logsumexp (batch*tokens*heads)]`, or the output alone
 * (`withLse` false).
 *
 * Inf and NaN: the tiles multiply every key of a chunk, masked ones by exact zeros, so an Inf or NaN value of a
 * key outside a row's window would enter the row as 0 * Inf = NaN. The copy that hands the output back
 * (NAForwardExactCopyProgram) redoes every non-finite element over its row's window alone (without the logsumexp,
 * on 2-D and 3-D, the program writes its output alone and redoes such rows itself: exactRows); in the tiles,
 * masked scores are told apart by their bits, so that a NaN score inside a window stays NaN.
 */
import {GEOMETRY_WGSL, NAProgram, RESCALE_MARGIN} from './program_util';
import {unroll} from './row_wgsl';
import {byColumnKind, columnPositions, exactRows, exactRowSums, firstChunkTables, groupOf, maskedScore,
        NON_FINITE_WGSL, QUERY_TILE_WGSL, queryChunkTables, queryTilePrologue, TiledWgsl, tiledComponents} from
    './tiled_wgsl';
import {gemmTraitsKey, GemmTileTraits, threads, TiledDims, workgroupOrder} from './tile_traits';

export class NAForwardProgram extends NAProgram {
  variableComponents: number[];
  outputComponent?: number;

  /**
   * `withLse` false: the output alone, `batch*tokens*heads*headDimV` floats, with its non-finite elements redone
   * here (exactRows) instead of in the copy; for calls that need no logsumexp (ForwardAttrs.needLse).
   */
  constructor(private traits: GemmTileTraits, private dims: TiledDims, private hasRpb: boolean,
              private hasExtra: boolean, outputSize: number, workgroupCount: number, maxPerDimension: number,
              private withLse = true) {
    super('forward', `${gemmTraitsKey(traits, dims)}_${hasRpb ? 'rpb' : ''}_${hasExtra ? 'extra' : ''}${
              withLse ? '' : '_nolse'}`,
          ['query', 'key', 'value', ...(hasRpb ? ['rpb'] : []), ...(hasExtra ? ['extras'] : [])],
          outputSize, workgroupCount, threads(traits), maxPerDimension);
    this.variableComponents = tiledComponents(dims, this.variableNames);
    if (!withLse && dims.vec4) {
      this.outputComponent = 4;  // the output alone, rows of a multiple of 4 floats: vec4 stores
    }
  }

  getUserCode(): string {
    const g = new TiledWgsl(this.traits, this.dims, this.traits.resident === true, this.traits.prefetch === true,
                            this.traits.ahead === true);
    // With ahead: the next chunk's first key step, loaded during this chunk's last accumulation step from the
    // other table set (chunk 0's before the loop: it is always a key chunk, the box being never empty).
    const nextKeys = g.ahead ? `
    if (c + 1 < chunks) {
      let nb = ((c + 1) % 2) * BK;${this.hasExtra ? `
      if (c + 1 >= t.boxChunks) {${g.prefetchRows('kp', 'DC4', 'ldExtraKey', '0', 'nb + ')}
      } else {${g.prefetchRows('kp', 'DC4', 'ldKey', '0', 'nb + ')}
      }` : g.prefetchRows('kp', 'DC4', 'ldKey', '0', 'nb + ')}
    }` : '';
    const {tm, tn, gc} = this.traits;
    const ndc = this.dims.dk / this.traits.dimChunk, nvv = this.dims.dv / (4 * gc);
    const byKind = (key: string, extra: string) => byColumnKind(this.hasExtra, key, extra);
    const score = (i: number, j: number) => {
      const {vis, bias} = maskedScore(i, j, this.hasRpb, this.hasExtra);
      return `
    {
      let vis = ${vis};
      s_${i}_${j} = select(NEG, s_${i}_${j} * uniforms.scale${bias && ` + ${bias}`}, vis);
      exceed = exceed || s_${i}_${j} > m_${i} + ${RESCALE_MARGIN.toFixed(1)};
    }`;
    };
    return `
${g.header('var<workgroup> flag : i32;')}
${GEOMETRY_WGSL}${this.withLse ? '' : NON_FINITE_WGSL}
${QUERY_TILE_WGSL}
${g.loader('ldQuery', 'query', 'uniforms.headDim')}
${g.loader('ldKey', 'key', 'uniforms.headDim')}
${g.loader('ldValue', 'value', 'uniforms.headDimV')}
${this.hasExtra ? g.loader('ldExtraKey', 'extras', 'uniforms.headDim') : ''}
${this.hasExtra ? g.loader('ldExtraValue', 'extras', 'uniforms.headDimV', 'extraValuesOffset()') : ''}

fn main(index : i32) {
  let lid = i32(localIndex);${g.threadCoords()}
  let t = makeQueryTile(workgroupIndex(), ${groupOf(workgroupOrder(this.traits))});
  if (lid == 0) {
    chunkCount = t.chunks;
    flag = 0;
  }
  let chunks = workgroupUniformLoad(&chunkCount);
  if (chunks == 0) {
    return;
  }
${queryTilePrologue(g)}${g.resident ? g.stageResident('ldQuery') : ''}
  ${unroll(tm, i => `var m_${i} = NEG; var l_${i} = 0.0;`, ' ')}
  ${g.declareBlock('s')}
  ${g.declareAcc('o', nvv)}
  ${g.prefetch ? `${g.declarePrefetch('kp', 'DC4')} ${g.declarePrefetch('vp', 'VC4')}` : ''}${
      g.ahead ? `${firstChunkTables()}${g.prefetchRows('kp', 'DC4', 'ldKey', '0', '')}` : ''}
  for (var c = 0; c < chunks; c++) {
    workgroupBarrier();
${queryChunkTables(g.ahead)}
${g.prefetch ?
  g.pipelinedScoreGemm('s', ndc, dc => byKind(g.prefetchRows('kp', 'DC4', 'ldKey', dc),
                                              g.prefetchRows('kp', 'DC4', 'ldExtraKey', dc)),
                       byKind(g.prefetchRows('vp', 'VC4', 'ldValue', '0'), g.prefetchRows('vp', 'VC4', 'ldExtraValue', '0'))) :
  g.scoreGemm('s', ndc, 'ldQuery', dc => byKind(g.stageCols('ldKey', dc), g.stageCols('ldExtraKey', dc)))}
    // Scaled scores (+ bias), NEG outside the rows' windows.
${columnPositions(g, this.hasExtra)}
    var exceed = false;
${unroll(tm, i => unroll(tn, j => score(i, j), ''), '')}
    if (exceed) {
      flag = c + 1;
    }
    // The chunk's first value columns, staged while the flag is read (prefetch: loaded during the last key
    // step, stored once the flag's barrier has every key step read).
${g.prefetch ? '' : byKind(g.stageChunkRows('ldValue', '0'), g.stageChunkRows('ldExtraValue', '0'))}
    let f = workgroupUniformLoad(&flag);${g.prefetch ? g.storePrefetched('vp', 'VC4') : ''}
    if (f == c + 1) {
      // New references: the rows' maxima (over every thread of the row).
${unroll(tm, i => `      red[(tr * TM + ${i}) * GC + tc] = max(${unroll(tn - 1, j => `max(s_${i}_${j}, `, '')}s_${i}_${tn - 1}${')'.repeat(tn - 1)}, m_${i});`)}
      workgroupBarrier();
${unroll(tm, i => `      {
        var mx = m_${i};
        for (var k = 0; k < GC; k++) {
          mx = max(mx, red[(tr * TM + ${i}) * GC + k]);
        }
        let r = exp(m_${i} - mx);
        l_${i} *= r;
        ${unroll(nvv, n => `o_${i}_${n} *= r;`, ' ')}
        m_${i} = mx;
      }`)}
    }
    // Weights relative to the references; each thread sums its own columns. Masked scores are exactly NEG, told
    // apart by their bits: a NaN score (a NaN query or key in the window) stays NaN, as the spec's arithmetic has
    // it (a float comparison may be ordered, false for NaN, and drop it).
${unroll(tm, i => `    ${unroll(tn, j => `s_${i}_${j} = select(0.0, exp(s_${i}_${j} - m_${i}), bitcast<u32>(s_${i}_${j}) != NEG_BITS);`, ' ')}
    l_${i} += ${unroll(tn, j => `s_${i}_${j}`, ' + ')};`)}
${g.writeProbs('s')}
${g.prefetch ?
  g.pipelinedAccumulate('o', nvv, n => byKind(g.prefetchRows('vp', 'VC4', 'ldValue', `${n}`),
                                              g.prefetchRows('vp', 'VC4', 'ldExtraValue', `${n}`)), nextKeys) :
  g.accumulate('o', nvv, n => byKind(g.stageChunkRows('ldValue', n), g.stageChunkRows('ldExtraValue', n)), true)}
  }
${g.rowSum('l')}
${unroll(tm, i => `  let outRow_${i} = rowRow[tr * TM + ${i}];`)}${this.withLse ? `
  let outSize = uniforms.batch * uniforms.numTokens * uniforms.heads * uniforms.headDimV;
${g.storeAcc('o', nvv, 'uniforms.headDimV', i => `(1.0 / l_${i})`)}
  if (tc == 0) {
${unroll(tm, i => `    if (outRow_${i} >= 0) {
      result[outSize + outRow_${i}] = m_${i} + log(l_${i});
    }`)}
  }` : `
${unroll(tm, i => `  let lse_${i} = m_${i} + log(l_${i});
  var inv_${i} = 1.0 / l_${i};`)}
  // Rows whose part came out non-finite: redone over their window alone, unless their logsumexp is non-finite
  // (every weight of the row is NaN then, and so is the row: exact already).
${exactRows(g, 'o', nvv, i => this.exactRow(i), i => `nonFinite(lse_${i})`)}
${this.outputComponent === 4 ? g.storeAccVec4('o', nvv, 'uniforms.headDimV', i => `inv_${i}`) :
                                g.storeAcc('o', nvv, 'uniforms.headDimV', i => `inv_${i}`)}`}
}
`;
  }

  /**
   * Statements: row i's output columns of this thread recomputed over the row's window and the extra tokens,
   * normalized (weights `exp(s - lse)`), with `inv_i` set to 1.
   */
  private exactRow(i: number): string {
    const weight = () => `
          let w = exp(s * uniforms.scale + kbias - lse_${i});`;
    return `${exactRowSums(i, this.dims.dv / (4 * this.traits.gc), this.hasRpb, this.hasExtra, 'o', weight, 'value')}
    inv_${i} = 1.0;`;
  }
}

const EXACT_COPY_THREADS = 256;

/**
 * The tiled forward's output copied out of its packed buffer `[output | logsumexp]`, with every non-finite element
 * redone over its row's window and the extra tokens alone: `sum_j exp(s_j - lse) v_j[col]`, the weights from the
 * row's logsumexp (which the tiles get right: a value never enters it). A masked key's Inf or NaN value reached
 * the tiles' sums as 0 * Inf = NaN; an element that is non-finite by the spec's arithmetic comes out so again.
 * One thread per element; the exact work runs only for non-finite elements (rare), so the copy costs what a
 * plain copy does. Kept out of the tiled program, whose registers and speed it would change. An element whose
 * row has a non-finite logsumexp is NaN without a walk, and a walk stops once its sum is NaN, so a step whose
 * queries, keys or values went NaN costs little here; values holding Inf (not NaN) in most tokens while the
 * scores stay finite would cost up to headDimV times the tiled forward's work.
 */
export class NAForwardExactCopyProgram extends NAProgram {
  constructor(private hasRpb: boolean, private hasExtra: boolean, count: number, maxPerDimension: number) {
    super('forward_exact_copy', `${hasRpb ? 'rpb' : ''}_${hasExtra ? 'extra' : ''}`,
          ['packed', 'query', 'key', 'value', ...(hasRpb ? ['rpb'] : []), ...(hasExtra ? ['extras'] : [])], count,
          Math.ceil(count / EXACT_COPY_THREADS), EXACT_COPY_THREADS, maxPerDimension);
  }

  getUserCode(): string {
    const D = 'uniforms.headDim', Dv = 'uniforms.headDimV';
    const bias = this.hasRpb ? 'rpb[rpbOffset(h, win.rpbBase + t)]' : '0.0';
    return `
${GEOMETRY_WGSL}
${NON_FINITE_WGSL}

fn main(index : i32) {
  let i = workgroupIndex() * ${EXACT_COPY_THREADS} + i32(localIndex);
  let count = uniforms.batch * uniforms.numTokens * uniforms.heads * ${Dv};
  if (i >= count) {
    return;
  }
  var out = packed[i];
  if (nonFinite(out)) {
    let row = i / ${Dv};
    let col = i % ${Dv};
    let lse = packed[count + row];
    // A non-finite logsumexp (a NaN score, or an infinite one, in the window) makes every weight NaN: so is the
    // element, with no walk (a diverged step's NaN rows cost nothing here).
    var acc = bitcast<f32>(bitcast<u32>(lse) | 0x7fc00000u);
    if (!nonFinite(lse)) {
      let h = row % uniforms.heads;
      let token = (row / uniforms.heads) % uniforms.numTokens;
      let b = row / (uniforms.heads * uniforms.numTokens);
      let hk = h / uniforms.headsPerKv;
      let win = windowOf(token);
      let dil = uniforms.dilation.xyz;
      let keys = win.count.x * win.count.y * win.count.z;
      acc = 0.0;
      // The window's keys (slot order), then the extra tokens; a NaN sum stays NaN, so the walk stops there.
      for (var n = 0; n < keys + uniforms.nExtra && !isNanBits(acc); n++) {
        var s = 0.0;
        var p = 0.0;
        if (n < keys) {
          let t = vec3<i32>(n / (win.count.y * win.count.z), (n / win.count.z) % win.count.y, n % win.count.z);
          let kRow = (b * uniforms.numTokens + tokenOf(win.first + dil * t)) * uniforms.headsKv + hk;
          for (var d = 0; d < ${D}; d++) {
            s = fma(query[row * ${D} + d], key[kRow * ${D} + d], s);
          }
          p = exp(s * uniforms.scale + ${bias} - lse);
          acc = fma(p, value[kRow * ${Dv} + col], acc);
        }${this.hasExtra ? ` else {
          let kRow = (b * uniforms.nExtra + n - keys) * uniforms.headsKv + hk;
          for (var d = 0; d < ${D}; d++) {
            s = fma(query[row * ${D} + d], extras[kRow * ${D} + d], s);
          }
          p = exp(s * uniforms.scale - lse);
          acc = fma(p, extras[uniforms.batch * uniforms.nExtra * uniforms.headsKv * ${D} + kRow * ${Dv} + col], acc);
        }` : ''}
      }
    }
    out = acc;
  }
  result[i] = out;
}
`;
  }
}
