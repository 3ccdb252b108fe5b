/**
 * Fused NA forward: one workgroup per (batch, query tile, head). For each chunk of keys of the tile's box (and
 * then of the extra tokens) it computes the tile's scores with a register-tiled mini-GEMM, updates an online
 * softmax per row (running max and sum, the accumulator rescaled), and adds the chunk's weights times its
 * values into the rows' register accumulators. It never writes the weights. Output, packed into one buffer
 * (one output per program): `[output (batch*tokens*heads*headDimV) | logsumexp (batch*tokens*heads)]`.
 */
import {dimClass, GEOMETRY_WGSL, NAProgram} from './program_util';
import {accumulateWgsl, QUERY_TILE_WGSL, queryTileConstants, queryTileLoaders, scoreGemmWgsl} from './query_tile_wgsl';
import {GRID, TileTraits, traitsKey} from './tile_traits';

export class NAForwardProgram extends NAProgram {
  constructor(private traits: TileTraits, private headDim: number, private headDimV: number,
              private hasRpb: boolean, private hasExtra: boolean, outputSize: number, workgroupCount: number,
              maxPerDimension: number) {
    super('forward', `${traitsKey(traits)}_d${dimClass(headDim)}_${dimClass(headDimV)}_${hasRpb ? 'rpb' : ''}_${hasExtra ? 'extra' : ''}`,
          ['query', 'key', 'value', ...(hasRpb ? ['rpb'] : []), ...(hasExtra ? ['extras'] : [])],
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
var<workgroup> rowMax : array<f32, TQ>;
var<workgroup> rowSum : array<f32, TQ>;
var<workgroup> rowScale : array<f32, TQ>;

${queryTileLoaders(this.hasExtra, false)}
${scoreGemmWgsl('queryKeyScores', 'loadQuery', 'loadKey', 'NDC')}
${accumulateWgsl('accumulateValues', 'loadValue', 'NVC', 'scores')}

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
  for (var i = 0; i < RQ; i++) {
    rows[i] = queryRow(t, tr * RQ + i);
  }
  if (lid < TQ) {
    rowMax[lid] = NEG;
    rowSum[lid] = 0.0;
  }
  var acc : array<f32, RQ * NVC * VPT>;
  for (var i = 0; i < RQ * NVC * VPT; i++) {
    acc[i] = 0.0;
  }
  for (var c = 0; c < chunks; c++) {
    // Scores of this chunk: scale * q.k (+ bias), NEG where the key is not in the row's window.
    var sc : array<f32, RQ * RK>;
    queryKeyScores(t, c, lid, tr, tc, &sc);
    for (var i = 0; i < RQ; i++) {
      for (var jj = 0; jj < RK; jj++) {
        let j = tc * RK + jj;
        var s = NEG;
        if (keyVisible(t, rows[i], c, j)) {
          s = sc[i * RK + jj] * uniforms.scale;
          ${bias}
        }
        scores[(tr * RQ + i) * SROW + j] = s;
      }
    }
    workgroupBarrier();
    // Online softmax, one thread per row: new running max, rescale factor, weights in place.
    if (lid < TQ) {
      var m = NEG;
      for (var j = 0; j < TK; j++) {
        m = max(m, scores[lid * SROW + j]);
      }
      let mOld = rowMax[lid];
      let mNew = max(mOld, m);
      var sum = 0.0;
      for (var j = 0; j < TK; j++) {
        let s = scores[lid * SROW + j];
        var p = 0.0;
        if (s > NEG_HALF) {
          p = exp(s - mNew);
        }
        scores[lid * SROW + j] = p;
        sum += p;
      }
      var scale = 1.0;
      if (mOld > NEG_HALF) {
        scale = exp(mOld - mNew);
      }
      rowMax[lid] = mNew;
      rowSum[lid] = rowSum[lid] * scale + sum;
      rowScale[lid] = scale;
    }
    workgroupBarrier();
    for (var i = 0; i < RQ; i++) {
      let scale = rowScale[tr * RQ + i];
      for (var m = 0; m < NVC * VPT; m++) {
        acc[i * NVC * VPT + m] *= scale;
      }
    }
    accumulateValues(t, c, lid, tr, tc, &acc);
  }
  let outSize = uniforms.batch * uniforms.numTokens * uniforms.heads * uniforms.headDimV;
  for (var i = 0; i < RQ; i++) {
    let r = tr * RQ + i;
    if (rows[i].token < 0) {
      continue;
    }
    let outRow = (t.b * uniforms.numTokens + rows[i].token) * uniforms.heads + t.h;
    let inv = 1.0 / rowSum[r];
    for (var vc = 0; vc < NVC; vc++) {
      for (var m = 0; m < VPT; m++) {
        let col = vc * VC + tc + ${GRID} * m;
        if (col < uniforms.headDimV) {
          result[outRow * uniforms.headDimV + col] = acc[(i * NVC + vc) * VPT + m] * inv;
        }
      }
    }
    if (tc == 0) {
      result[outSize + outRow] = rowMax[r] + log(rowSum[r]);
    }
  }
}
`;
  }
}
