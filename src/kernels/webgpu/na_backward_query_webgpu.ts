/**
 * Fused NA backward, query-tiled pass: dq. The same tiles and key chunks as the forward; per chunk it
 * recomputes the weights from the saved logsumexp (`p = exp(s - lse)`), computes `dP = dO . v` with a second
 * mini-GEMM, `dS = p (dP - delta)` into workgroup memory, and accumulates `dq += scale * dS . k` in registers.
 * Nothing of size tokens x K is stored. Output: dq `[batch*tokens*heads*headDim]`.
 */
import {dimClass, GEOMETRY_WGSL, NAProgram} from './program_util';
import {accumulateWgsl, QUERY_TILE_WGSL, queryTileConstants, queryTileLoaders, scoreGemmWgsl} from './query_tile_wgsl';
import {GRID, TileTraits, traitsKey} from './tile_traits';

export class NABackwardQueryProgram extends NAProgram {
  constructor(private traits: TileTraits, private headDim: number, private headDimV: number,
              private hasRpb: boolean, private hasExtra: boolean, outputSize: number, workgroupCount: number,
              maxPerDimension: number) {
    super('backward_dq',
          `${traitsKey(traits)}_d${dimClass(headDim)}_${dimClass(headDimV)}_${hasRpb ? 'rpb' : ''}_${hasExtra ? 'extra' : ''}`,
          ['query', 'key', 'value', 'dOut', 'stats', ...(hasRpb ? ['rpb'] : []), ...(hasExtra ? ['extras'] : [])],
          outputSize, workgroupCount, GRID * GRID, maxPerDimension);
  }

  getUserCode(): string {
    const bias = this.hasRpb ?
        `if (c < t.boxChunks) {
            let hat = boxKeyHat(t, c * TK + j);
            s += rpb[rpbOffset(t.h, hat - rows[i].iHat + uniforms.kernel.xyz - vec3<i32>(1))];
          }` :
        '';
    return `
${queryTileConstants(this.traits, dimClass(this.headDim), dimClass(this.headDimV))}
${GEOMETRY_WGSL}
${QUERY_TILE_WGSL}
${queryTileLoaders(this.hasExtra, true)}
${scoreGemmWgsl('queryKeyScores', 'loadQuery', 'loadKey', 'NDC')}
${scoreGemmWgsl('dOutValueScores', 'loadDOut', 'loadValue', 'NDCV')}
${accumulateWgsl('accumulateKeys', 'loadKey', 'NKC', 'scores')}

fn main(index : i32) {
  let lid = i32(localIndex);
  let tr = lid / ${GRID};
  let tc = lid % ${GRID};
  let t = makeQueryTile(workgroupIndex());
  if (lid == 0) {
    chunkCount = t.chunks;
  }
  let chunks = workgroupUniformLoad(&chunkCount);
  if (chunks == 0) {
    return;
  }
  var rows : array<QueryRow, RQ>;
  var rowLse : array<f32, RQ>;
  var rowDelta : array<f32, RQ>;
  for (var i = 0; i < RQ; i++) {
    rows[i] = queryRow(t, tr * RQ + i);
    rowLse[i] = 0.0;
    rowDelta[i] = 0.0;
    if (rows[i].token >= 0) {
      let at = (t.b * uniforms.numTokens + rows[i].token) * uniforms.heads + t.h;
      rowLse[i] = stats[2 * at];
      rowDelta[i] = stats[2 * at + 1];
    }
  }
  var acc : array<f32, RQ * NKC * VPT>;
  for (var i = 0; i < RQ * NKC * VPT; i++) {
    acc[i] = 0.0;
  }
  for (var c = 0; c < chunks; c++) {
    var sc : array<f32, RQ * RK>;
    queryKeyScores(t, c, lid, tr, tc, &sc);
    var dp : array<f32, RQ * RK>;
    dOutValueScores(t, c, lid, tr, tc, &dp);
    for (var i = 0; i < RQ; i++) {
      for (var jj = 0; jj < RK; jj++) {
        let j = tc * RK + jj;
        var ds = 0.0;
        if (keyVisible(t, rows[i], c, j)) {
          var s = sc[i * RK + jj] * uniforms.scale;
          ${bias}
          let p = exp(s - rowLse[i]);
          ds = p * (dp[i * RK + jj] - rowDelta[i]);
        }
        scores[(tr * RQ + i) * SROW + j] = ds;
      }
    }
    workgroupBarrier();
    accumulateKeys(t, c, lid, tr, tc, &acc);
  }
  for (var i = 0; i < RQ; i++) {
    if (rows[i].token < 0) {
      continue;
    }
    let outRow = (t.b * uniforms.numTokens + rows[i].token) * uniforms.heads + t.h;
    for (var kc = 0; kc < NKC; kc++) {
      for (var m = 0; m < VPT; m++) {
        let col = kc * VC + tc + ${GRID} * m;
        if (col < uniforms.headDim) {
          result[outRow * uniforms.headDim + col] = acc[(i * NKC + kc) * VPT + m] * uniforms.scale;
        }
      }
    }
  }
}
`;
  }
}
