/**
 * WGSL generator shared by the tiled programs (fused forward, backward dq, backward dk/dv). A workgroup owns a
 * tile of rows (queries, or keys) and walks chunks of columns (keys of the tile's box and the extra tokens, or
 * queries); per chunk:
 * 1. one thread per column decodes it once into workgroup tables (`colRow`: its row in the operand buffers,
 *    `colPos`/`colAux`: its in-group position or window and its rpb part);
 * 2. score GEMMs `s = A . B^T` over the head dim, `dimChunk` dims per step: the tile rows and the chunk's columns
 *    are staged in workgroup memory as vec4 rows (XOR-swizzled so that neither the staging stores nor the
 *    GEMM's loads conflict on banks), and each thread accumulates its `tm x tn` block in registers;
 * 3. the program turns its scores into weights (masking, softmax or its gradient), writes them to `probs`;
 * 4. accumulation GEMMs `o += probs . C`, `4 * gc` output columns per step, C's chunk rows staged the same way.
 * Every per-thread value is a named variable (`s_i_j`, `o_i_n`): loops only index workgroup or global memory,
 * so the registers never depend on how the driver unrolls. A warp whose rows see no column of a chunk skips its
 * GEMM work (`warpActive`; warps are assumed to be 32 threads, only a matter of speed).
 */
import {unroll} from './row_wgsl';
import {gemmCols, gemmRows, GemmTileTraits, lineRows, stageSlots, threads, TiledDims, warpLanes, WorkgroupOrder} from './tile_traits';

export const NEG = -1.0e30;

/**
 * A zero the driver cannot see when it compiles (the unused fourth lane of the `tiles` uniform, always 0): where
 * the GEMM loops of `rolled` traits start.
 */
export const ROLLED_START = 'uniforms.tiles.w';

/** Binding components of a tiled program's inputs: vec4 rows where the dims allow, vec2 stats, else f32. */
export function tiledComponents(d: TiledDims, names: string[]): number[] {
  return names.map(n => (n === 'stats' ? 2 : n === 'rpb' || !d.vec4 ? 1 : 4));
}

/**
 * A WGSL loader `fn name(row, d4) -> vec4<f32>`: dims 4*d4 .. 4*d4+3 of row `row` of `buf` (rows of `dim` floats,
 * starting `offsetFloats` floats in), zero for row < 0 or past the exact head dim; `vec4`: the buffer is bound
 * as vec4 (both head dims multiples of 4).
 */
export function rowLoader(vec4: boolean, name: string, buf: string, dim: 'uniforms.headDim' | 'uniforms.headDimV',
                          offsetFloats = ''): string {
  if (vec4) {
    return `
fn ${name}(row : i32, d4 : i32) -> vec4<f32> {
  let n4 = ${dim} / 4;
  let v = ${buf}[${offsetFloats ? `(${offsetFloats}) / 4 + ` : ''}max(row, 0) * n4 + min(d4, n4 - 1)];
  return select(vec4<f32>(0.0), v, row >= 0 && d4 < n4);
}`;
  }
  return `
fn ${name}(row : i32, d4 : i32) -> vec4<f32> {
  let n = ${dim};
  let base = ${offsetFloats ? `${offsetFloats} + ` : ''}max(row, 0) * n;
  let e = 4 * d4;
  let ok = row >= 0;
  return vec4<f32>(select(0.0, ${buf}[base + min(e, n - 1)], ok && e < n),
                 select(0.0, ${buf}[base + min(e + 1, n - 1)], ok && e + 1 < n),
                 select(0.0, ${buf}[base + min(e + 2, n - 1)], ok && e + 2 < n),
                 select(0.0, ${buf}[base + min(e + 3, n - 1)], ok && e + 3 < n));
}`;
}

export class TiledWgsl {
  readonly rows: number;
  readonly cols: number;
  /** Where the chunk columns start in the staging area (after the tile rows unless those are resident). */
  private readonly colBase: string;
  /** Prefix of indices into the chunk tables: the current set's offset `tb` (two sets with `ahead`), or none. */
  readonly tb: string;
  /** Where the score and accumulation GEMMs' inner loops start: 0, or ROLLED_START for `rolled` traits. */
  private readonly scoreStart: string;
  private readonly accStart: string;
  /** Staged column rows per 128-byte line of workgroup memory (see colSlot), or 0: each row its own slots. */
  private readonly lineRows: number;
  /** Whether the per-column tables are swizzled (posSlot in header). */
  private readonly tableSwizzle: boolean;
  /**
   * `resident`: the score GEMM reads the tile rows from `qtile` (every head dim, staged once by stageResident)
   * instead of staging them per dim step with the columns. `prefetch` (with `resident`): the column steps are
   * staged through registers into two alternating buffers (pipelinedScoreGemm, prefetchRows). `ahead` (with
   * `prefetch`): two sets of chunk tables, the next chunk's made during this one (queryChunkTables).
   */
  constructor(readonly t: GemmTileTraits, readonly d: TiledDims, readonly resident = false,
              readonly prefetch = false, readonly ahead = false) {
    this.rows = gemmRows(t);
    this.cols = gemmCols(t);
    this.colBase = resident ? '' : 'BQ + ';
    this.tb = ahead ? 'tb + ' : '';
    const rolled = (part: 'score' | 'acc') => t.rolled === true || t.rolled === part;
    this.scoreStart = rolled('score') ? ROLLED_START : '0';
    this.accStart = rolled('acc') ? ROLLED_START : '0';
    this.lineRows = lineRows(t);
    this.tableSwizzle = t.swizzle !== 'row' && (t.tn === 4 || t.tn === 8);
  }

  /**
   * WGSL: the vec4 slot, from the start of the staged columns, of dims 4*d4 .. 4*d4+3 (d4 < DC4) of the staged
   * column row `r` of a score step (both WGSL expressions). The GEMM's loads of one column slot come from the
   * threads of a row of the grid, which read rows `tc * TN + j` (j fixed): they must hit distinct banks.
   * - Rows of at least 128 bytes (DC4 >= 8): row r at r * DC4, its slots XOR-swizzled by (r / TN) % DC4.
   * - Shorter rows (lineRows, see there): `8 / DC4` rows share a 128-byte line of 8 slots, XOR-swizzled as a whole
   *   by (r / TN) % 8, so that 8 thread columns read 8 distinct slots of a line: one wavefront. Swizzling each
   *   row in its own slots (the other layout, `swizzle: 'row'`) gives them only DC4 distinct slots, all in the
   *   same half of the banks (rows r and r + TN start 64 bytes apart times an even number): a 2-way conflict at
   *   16 dims per step, 4-way at 8.
   */
  colSlot(r: string, d4: string): string {
    const rpl = this.lineRows;
    if (rpl === 0) {
      return `(${r}) * DC4 + ((${d4}) ^ ((${r}) / TN % DC4))`;
    }
    return `(${r}) / ${rpl} * 8 + ((DC4 * ((${r}) % ${rpl}) + (${d4})) ^ ((${r}) / TN % 8))`;
  }

  /** colSlot for the GEMM's own column row `tc * TN + j` (j a number), folded. */
  private gemmColSlot(j: number): string {
    const rpl = this.lineRows;
    if (rpl === 0) {
      return `(tc * TN + ${j}) * DC4 + (d4 ^ (tc % DC4))`;
    }
    const lineOf = `tc * ${this.t.tn / rpl}${Math.floor(j / rpl) > 0 ? ` + ${Math.floor(j / rpl)}` : ''}`;
    const within = (j % rpl) * (this.t.dimChunk / 4);
    return `(${lineOf}) * 8 + (${within > 0 ? `(${within} + d4)` : 'd4'} ^ (tc % 8))`;
  }

  /** Constants, workgroup memory and helpers. `extraDecls`: the program's own workgroup variables. */
  header(extraDecls = ''): string {
    const t = this.t, dc4 = t.dimChunk / 4;
    const stage = stageSlots(t, this.resident, this.prefetch);
    return `
const BQ = ${this.rows};
const BK = ${this.cols};
const TM = ${t.tm};
const TN = ${t.tn};
const GC = ${t.gc};
const THREADS = ${threads(t)};
const T0 = ${t.tile[0]};
const T1 = ${t.tile[1]};
const T2 = ${t.tile[2]};
const DC4 = ${dc4};
const VC4 = ${t.gc};
const PROW = ${this.cols / 4 + 1};
// Threads of a warp span WARP_TR rows of the thread grid (warps of 32 assumed; only the skipping uses it), and
// LANES of its columns (threadCoords).
const WARP_TR = ${Math.max(1, 32 / warpLanes(t))};
const LANES = ${warpLanes(t)};
const NEG = ${NEG.toExponential()};
const NEG_BITS = bitcast<u32>(NEG);
// In-group position of a column that is no key (never inside a window).
const FAR = 1 << 29;

var<workgroup> stage : array<vec4<f32>, ${stage}>;${this.resident ? `
const DK4 = ${this.d.dk / 4};
var<workgroup> qtile : array<vec4<f32>, BQ * DK4>;` : ''}
var<workgroup> probs : array<vec4<f32>, BQ * PROW>;
var<workgroup> red : array<f32, BQ * GC>;
var<workgroup> colRow : array<i32, ${this.ahead ? 2 : 1} * BK>;
var<workgroup> colPos : array<vec4<i32>, ${this.ahead ? 2 : 1} * BK>;
var<workgroup> rowRow : array<i32, BQ>;
var<workgroup> chunkCount : i32;
// The chunk's columns' per-axis bounds (query tiles: decoded once per chunk, see queryChunkTables; a second set
// for the next chunk with ahead).
var<workgroup> chunkLo : array<vec3<i32>, 2>;
var<workgroup> chunkHi : array<vec3<i32>, 2>;
${extraDecls}

fn fma4(a : vec4<f32>, b : vec4<f32>, s : f32) -> f32 {
  return fma(a.w, b.w, fma(a.z, b.z, fma(a.y, b.y, fma(a.x, b.x, s))));
}

// Window test: position p inside [lo, lo + len) on every axis (len 0: nothing is).
fn inWindow(p : vec3<i32>, lo : vec3<i32>, len : vec3<i32>) -> bool {
  return all(vec3<u32>(p - lo) < vec3<u32>(len));
}

// The slot of chunk column c in the 16-byte per-column tables (colPos; colEnd of key tiles). A thread reads its
// columns tc * TN + j: in plain order the 8 thread columns of a grid row would hit 2 of the 8 16-byte bank
// groups for each j (4-way conflicts). ${this.tableSwizzle ?
    'Here each run of TN columns is XOR-swizzled by its place among a 128-byte line\'s 8 / TN runs: 8 groups.' :
    'Plain order here (swizzle "row", or TN not 4 or 8).'}
fn posSlot(c : i32) -> i32 {
  return ${this.tableSwizzle ? 'c / TN * TN + ((c % TN) ^ (c / 8 % TN))' : 'c'};
}

// Tile coordinates of tile row r (row-major over the tile, axis 0 outermost).
fn tileCoord(r : i32) -> vec3<i32> {
  return vec3<i32>(r / (T1 * T2), (r / T2) % T1, r % T2);
}

// Offset of the extra values in the packed extras buffer, in floats.
fn extraValuesOffset() -> i32 {
  return uniforms.batch * uniforms.nExtra * uniforms.headsKv * uniforms.headDim;
}
`;
  }

  /**
   * A loader `fn name(row, d4) -> vec4<f32>`: dims 4*d4 .. 4*d4+3 of row `row` of `buf` (rows of `dim` floats,
   * starting `offsetFloats` floats in), zero for row < 0 or past the exact head dim.
   */
  loader(name: string, buf: string, dim: 'uniforms.headDim' | 'uniforms.headDimV', offsetFloats = ''): string {
    return rowLoader(this.d.vec4, name, buf, dim, offsetFloats);
  }

  /**
   * Statements: stage dim step `dc` of the tile rows (`rowRow`) through loader `ld`: row r at r * DC4, its vec4
   * slots XOR-swizzled by `(r / TM) % DC4` (the block of one thread's rows), so that the threads of a warp that
   * read one slot of their rows each hit another bank.
   */
  stageRows(ld: string, dc: string): string {
    return `
    for (var e = lid; e < BQ * DC4; e += THREADS) {
      let r = e / DC4;
      let d4 = e % DC4;
      stage[r * DC4 + (d4 ^ ((r / TM) % DC4))] = ${ld}(rowRow[r], ${dc} * DC4 + d4);
    }`;
  }

  /** Statements: stage dim step `dc` of the chunk's columns (`colRow`) through loader `ld`. */
  stageCols(ld: string, dc: string): string {
    return `
    for (var e = lid; e < BK * DC4; e += THREADS) {
      let r = e / DC4;
      let d4 = e % DC4;
      stage[${this.colBase && 'BQ * DC4 + '}${this.colSlot('r', 'd4')}] = ${ld}(colRow[${this.tb}r], ${dc} * DC4 + d4);
    }`;
  }

  /**
   * Statements (resident rows): stage every head dim of the tile rows (`rowRow`) through loader `ld` into `qtile`,
   * dim step by dim step swizzled as stageRows does. Starts with a barrier (rowRow is written); the chunk loop's
   * barriers order it before the first GEMM.
   */
  stageResident(ld: string): string {
    return `
  workgroupBarrier();
  for (var e = lid; e < BQ * DK4; e += THREADS) {
    let r = e / DK4;
    let d4 = e % DK4;
    qtile[r * DK4 + (d4 / DC4) * DC4 + ((d4 % DC4) ^ ((r / TM) % DC4))] = ${ld}(rowRow[r], d4);
  }`;
  }

  /** Statements: stage column step `vc` (4 * gc dims) of the chunk's rows (`colRow`) through loader `ld`. */
  stageChunkRows(ld: string, vc: string): string {
    return `
    for (var e = lid; e < BK * VC4; e += THREADS) {
      let j = e / VC4;
      let c4 = e % VC4;
      stage[j * VC4 + c4] = ${ld}(colRow[${this.tb}j], ${vc} * VC4 + c4);
    }`;
  }

  /**
   * Statements: the thread's place `tr`, `tc` in the grid from its local index `lid`. Warps are blocks of WARP_TR
   * rows by LANES columns of the grid (whole rows unless the traits' lanes say otherwise), numbered along the rows.
   */
  threadCoords(): string {
    if (warpLanes(this.t) === Math.min(this.t.gc, 32)) {
      return `
  let tr = lid / GC;
  let tc = lid % GC;`;
    }
    return `
  let warp = lid / 32;
  let lane = lid % 32;
  let tr = (warp / (GC / LANES)) * WARP_TR + lane / LANES;
  let tc = (warp % (GC / LANES)) * LANES + lane % LANES;`;
  }

  /** Statements: `var s_i_j = 0.0` for the thread's score block, named `name`. */
  declareBlock(name: string): string {
    return unroll(this.t.tm, i => unroll(this.t.tn, j => `var ${name}_${i}_${j} = 0.0;`, ' '), '\n  ');
  }

  /** Statements: reset the score block `name` to 0. */
  resetBlock(name: string): string {
    return unroll(this.t.tm, i => unroll(this.t.tn, j => `${name}_${i}_${j} = 0.0;`, ' '), '\n    ');
  }

  /**
   * Statements: add the staged dim step's products to block `name` (skipped by inactive warps); the columns start
   * `colOffset` (a WGSL expression, vec4 slots) into the staging area.
   */
  gemmStep(name: string, colOffset = ''): string {
    const t = this.t;
    return `
    if (warpActive) {
      for (var d4 = ${this.scoreStart}; d4 < DC4; d4++) {
${unroll(t.tm, i => this.resident ?
    `        let a${i} = qtile[(tr * TM + ${i}) * DK4 + dc * DC4 + (d4 ^ (tr % DC4))];` :
    `        let a${i} = stage[(tr * TM + ${i}) * DC4 + (d4 ^ (tr % DC4))];`)}
${unroll(t.tn, j => `        let b${j} = stage[${colOffset && `${colOffset} + `}${this.colBase && 'BQ * DC4 + '}${this.gemmColSlot(j)}];`)}
${unroll(t.tm, i => unroll(t.tn, j => `        ${name}_${i}_${j} = fma4(a${i}, b${j}, ${name}_${i}_${j});`))}
      }
    }`;
  }

  /**
   * Statements: the whole score GEMM of a chunk into block `name` (reset first): `steps` dim steps, each staging
   * the tile rows through `rowLd` and the columns through the statements `stageCols(dc)`.
   */
  scoreGemm(name: string, steps: number, rowLd: string, stageCols: (dc: string) => string): string {
    return `
    ${this.resetBlock(name)}
    for (var dc = 0; dc < ${steps}; dc++) {${this.resident ? '' : this.stageRows(rowLd, 'dc')}${stageCols('dc')}
      workgroupBarrier();${this.gemmStep(name)}
      workgroupBarrier();
    }`;
  }

  /**
   * Prefetching through registers (`prefetch` programs): each thread moves the staging elements lid,
   * lid + THREADS, ... of a step (`per` vec4 slots of each of the chunk's BK rows) as registers `name_u`: loaded
   * from global memory before the GEMM that hides their latency, stored to workgroup memory after a barrier.
   */
  private prefetchCount(per: number): number {
    return Math.ceil(this.cols * per / threads(this.t));
  }

  /** Statements: declare the registers `name` of one step of `per` ('DC4' or 'VC4') slots per row. */
  declarePrefetch(name: string, per: 'DC4' | 'VC4'): string {
    const n = this.prefetchCount(per === 'DC4' ? this.t.dimChunk / 4 : this.t.gc);
    return unroll(n, u => `var ${name}_${u} = vec4<f32>(0.0);`, ' ');
  }

  /**
   * Statements: load step `step` (a WGSL expression) of the chunk's rows (`colRow`, from the table set whose
   * index prefix is `tables`: the current one by default) through loader `ld`.
   */
  prefetchRows(name: string, per: 'DC4' | 'VC4', ld: string, step: string, tables = this.tb): string {
    const n = this.prefetchCount(per === 'DC4' ? this.t.dimChunk / 4 : this.t.gc);
    return unroll(n, u => `
    {
      let e = lid + ${u * threads(this.t)};
      if (e < BK * ${per}) {
        ${name}_${u} = ${ld}(colRow[${tables}e / ${per}], (${step}) * ${per} + e % ${per});
      }
    }`, '');
  }

  /**
   * Statements: store the registers `name` as staged rows, `offset` (WGSL) slots in: key dim steps ('DC4')
   * swizzled as stageCols does, value column steps ('VC4') as stageChunkRows does.
   */
  storePrefetched(name: string, per: 'DC4' | 'VC4', offset = ''): string {
    const n = this.prefetchCount(per === 'DC4' ? this.t.dimChunk / 4 : this.t.gc);
    const slot = per === 'DC4' ? this.colSlot('e / DC4', 'e % DC4') : 'e';
    return unroll(n, u => `
    {
      let e = lid + ${u * threads(this.t)};
      if (e < BK * ${per}) {
        stage[${offset && `${offset} + `}${slot}] = ${name}_${u};
      }
    }`, '');
  }

  /**
   * Statements (`prefetch` programs): the score GEMM of a chunk into block `name` (reset first), `steps` dim
   * steps of the columns through the registers `kp`, alternating between two buffers of BK * DC4 slots, so
   * one barrier per step and each step's global loads in flight during the previous step's GEMM (step 0's:
   * before, or with `ahead` during the previous chunk's accumulation, see pipelinedAccumulate). `load(dc)`:
   * statements loading step dc (a WGSL expression) into `kp` (prefetchRows); `after`: statements issued during
   * the last step's GEMM (e.g. the first value step's loads). No barrier at the end: the last buffer is still
   * being read.
   */
  pipelinedScoreGemm(name: string, steps: number, load: (dc: string) => string, after: string): string {
    const offset = `(dc % 2) * ${this.cols * this.t.dimChunk / 4}`;
    return `
    ${this.resetBlock(name)}${this.ahead ? '' : load('0')}
    for (var dc = 0; dc < ${steps}; dc++) {${this.storePrefetched('kp', 'DC4', offset)}
      workgroupBarrier();
      if (dc + 1 < ${steps}) {${load('dc + 1')}
      } else {${after}
      }${this.gemmStep(name, offset)}
    }`;
  }

  /** Statements: write block `name` (registers) as the thread's part of the weights tile `probs`. */
  writeProbs(name: string): string {
    const t = this.t;
    return unroll(t.tm, i => unroll(t.tn / 4, q => `    probs[(tr * TM + ${i}) * PROW + tc * ${t.tn / 4} + ${q}] = vec4<f32>(${
        unroll(4, k => `${name}_${i}_${4 * q + k}`, ', ')});`));
  }

  /** Statements: `var name_i_n = vec4(0)` for the thread's accumulator of `n4` column steps. */
  declareAcc(name: string, steps: number): string {
    return unroll(this.t.tm, i => unroll(steps, n => `var ${name}_${i}_${n} = vec4<f32>(0.0);`, ' '), '\n  ');
  }

  /** Statements: `acc_i_n += probs . staged chunk rows` for column step n (skipped by inactive warps). */
  accumulateStep(acc: string, n: number): string {
    const t = this.t;
    return `
    if (warpActive) {
      for (var j4 = ${this.accStart}; j4 < BK / 4; j4++) {
${unroll(t.tm, i => `        let w${i} = probs[(tr * TM + ${i}) * PROW + j4];`)}
${unroll(4, k => `        let x${k} = stage[(4 * j4 + ${k}) * VC4 + tc];`)}
${unroll(t.tm, i => unroll(4, k => `        ${acc}_${i}_${n} = fma(vec4<f32>(w${i}[${k}]), x${k}, ${acc}_${i}_${n});`))}
      }
    }`;
  }

  /**
   * Statements: `acc += probs . C` over all `steps` column steps, C's chunk rows staged by the statements
   * `stage(n)` (e.g. stageChunkRows). Starts with a barrier (the weights are written, the staging area free);
   * `firstStaged`: step 0 is already staged.
   */
  accumulate(acc: string, steps: number, stage: (n: string) => string, firstStaged = false): string {
    let code = '';
    for (let n = 0; n < steps; n++) {
      if (n > 0) {
        code += '\n    workgroupBarrier();';
      }
      if (n > 0 || !firstStaged) {
        code += stage(`${n}`);
      }
      code += `\n    workgroupBarrier();${this.accumulateStep(acc, n)}`;
    }
    return code;
  }

  /**
   * Statements (`prefetch` programs): `acc += probs . C` over all `steps` column steps, step 0 already staged,
   * step n + 1 loaded into the registers `vp` by `load(n + 1)` during step n's accumulation, and the statements
   * `last` issued during the last step's. Starts with a barrier (the weights are written).
   */
  pipelinedAccumulate(acc: string, steps: number, load: (n: number) => string, last = ''): string {
    let code = '';
    for (let n = 0; n < steps; n++) {
      const more = n + 1 < steps;
      code += `\n    workgroupBarrier();${more ? load(n + 1) : last}${this.accumulateStep(acc, n)}`;
      if (more) {
        code += `\n    workgroupBarrier();${this.storePrefetched('vp', 'VC4')}`;
      }
    }
    return code;
  }

  /** Statements: the thread's part of the sum over a row's GC threads of `x_i` (per row i), into `x_i`. */
  rowSum(x: string): string {
    const t = this.t;
    return `
  workgroupBarrier();
${unroll(t.tm, i => `  red[(tr * TM + ${i}) * GC + tc] = ${x}_${i};`)}
  workgroupBarrier();
${unroll(t.tm, i => `  ${x}_${i} = 0.0;
  for (var k = 0; k < GC; k++) {
    ${x}_${i} += red[(tr * TM + ${i}) * GC + k];
  }`)}`;
  }

  /**
   * Statements: store accumulator `acc` (times `scale_i`, a WGSL expression of i) for rows i with output row
   * `outRow_i` (-1: none) of `dim` floats, at `offset` floats in `result`.
   */
  storeAcc(acc: string, steps: number, dim: string, scale: (i: number) => string, offset = ''): string {
    const t = this.t;
    return unroll(t.tm, i => `
  if (outRow_${i} >= 0) {
    let ob = ${offset ? `${offset} + ` : ''}outRow_${i} * ${dim};
${unroll(steps, n => unroll(4, k => `    if (${n * 4 * t.gc} + 4 * tc + ${k} < ${dim}) {
      result[ob + ${n * 4 * t.gc} + 4 * tc + ${k}] = ${acc}_${i}_${n}[${k}] * ${scale(i)};
    }`))}
  }`);
  }

  /** storeAcc into a `result` of vec4 (the program's outputComponent 4): `dim` a multiple of 4, no offset. */
  storeAccVec4(acc: string, steps: number, dim: string, scale: (i: number) => string): string {
    const t = this.t;
    return unroll(t.tm, i => `
  if (outRow_${i} >= 0) {
    let ob = outRow_${i} * (${dim} / 4);
${unroll(steps, n => `    if (${n * 4 * t.gc} + 4 * tc < ${dim}) {
      result[ob + ${n * t.gc} + tc] = ${acc}_${i}_${n} * ${scale(i)};
    }`)}
  }`);
  }
}

/**
 * WGSL shared by every tiled program (query tiles here, key tiles in na_backward_kv_webgpu.ts):
 * `tileGrid(wg, inner, group, shape)` places workgroup `wg` with the inner index (head, or kv head for key tiles)
 * in runs of `group` (groupOf: all of them for heads first, the heads of one kv head for tiles first) fastest,
 * then the tile, then the run, then the batch, and finds the tile's place in the padded grid (`uniforms.tiles`
 * tiles per axis, each dilation group owning tiles/dilation of them): its linear index in the grid, its group,
 * first in-group position and the group's length per axis; `empty` for tiles past their group's end and
 * workgroups past the call's count.
 */
export const TILE_GRID_WGSL = `
struct TileGrid {
  inner : i32,
  b : i32,
  tile : i32,
  g : vec3<i32>,
  first : vec3<i32>,
  glen : vec3<i32>,
  empty : bool,
};

fn tileGrid(wg : i32, inner : i32, group : i32, shape : vec3<i32>) -> TileGrid {
  var r : TileGrid;
  let nt = uniforms.tiles.xyz;
  let numTiles = nt.x * nt.y * nt.z;
  let rest = wg / group;
  let tile = rest % numTiles;
  let run = rest / numTiles;
  let runs = inner / group;
  r.inner = (run % runs) * group + wg % group;
  r.b = run / runs;
  r.tile = tile;
  let tc = vec3<i32>(tile / (nt.y * nt.z), (tile / nt.z) % nt.y, tile % nt.z);
  r.empty = wg >= uniforms.workgroupCount;
  for (var a = 0; a < 3; a++) {
    let perGroup = nt[a] / uniforms.dilation[a];
    r.g[a] = tc[a] / perGroup;
    r.first[a] = (tc[a] % perGroup) * shape[a];
    r.glen[a] = groupLengthOf(a, r.g[a]);
    r.empty = r.empty || r.first[a] >= r.glen[a];
  }
  return r;
}
`;

/**
 * WGSL: `linearBounds(start, len, lin0, lin1)`, the per-axis bounds [lo, hi] (inclusive) of the positions
 * lin0 .. lin1 (lin0 <= lin1, linear over the box at `start` of lengths `len`, axis 0 outermost): for a tile's rows
 * or a chunk's columns.
 */
export const LINEAR_BOUNDS_WGSL = `
struct Bounds {
  lo : vec3<i32>,
  hi : vec3<i32>,
};

fn linearBounds(start : vec3<i32>, len : vec3<i32>, lin0 : i32, lin1 : i32) -> Bounds {
  let a = start + vec3<i32>(lin0 / (len.y * len.z), (lin0 / len.z) % len.y, lin0 % len.z);
  let z = start + vec3<i32>(lin1 / (len.y * len.z), (lin1 / len.z) % len.y, lin1 % len.z);
  let full = start + len - vec3<i32>(1);
  var b : Bounds;
  b.lo = vec3<i32>(a.x, select(start.y, a.y, a.x == z.x), select(start.z, a.z, a.x == z.x && a.y == z.y));
  b.hi = vec3<i32>(z.x, select(full.y, z.y, a.x == z.x), select(full.z, z.z, a.x == z.x && a.y == z.y));
  return b;
}
`;

/**
 * WGSL: the `group` argument of tileGrid for workgroups in `order` whose inner index is a head (`kv` false) or a
 * kv head (`kv` true).
 */
export function groupOf(order: WorkgroupOrder, kv = false): string {
  return order === 'heads' ? (kv ? 'uniforms.headsKv' : 'uniforms.heads') : (kv ? '1' : 'uniforms.headsPerKv');
}

/**
 * WGSL of the query tile (forward and dq): the workgroup's query tile inside one dilation group per axis and the
 * box of keys its windows cover. Window starts and ends never decrease with the in-group position, so the
 * tile's windows all lie inside one box [start(first row), end(last row)) per axis, walked in chunks of BK keys
 * (linear over the box, axis 0 outermost); the extra tokens follow as further chunks. `makeQueryTile(wg, group)`:
 * group as tileGrid's (groupOf).
 */
export const QUERY_TILE_WGSL = `${TILE_GRID_WGSL}${LINEAR_BOUNDS_WGSL}
struct QueryTile {
  b : i32,
  h : i32,
  tile : i32,
  hk : i32,
  g : vec3<i32>,
  i0 : vec3<i32>,
  glen : vec3<i32>,
  last : vec3<i32>,
  boxStart : vec3<i32>,
  boxLen : vec3<i32>,
  boxVol : i32,
  boxChunks : i32,
  chunks : i32,
};

fn makeQueryTile(wg : i32, group : i32) -> QueryTile {
  var t : QueryTile;
  let shape = vec3<i32>(T0, T1, T2);
  let grid = tileGrid(wg, uniforms.heads, group, shape);
  t.h = grid.inner;
  t.b = grid.b;
  t.tile = grid.tile;
  t.hk = t.h / uniforms.headsPerKv;
  t.g = grid.g;
  t.i0 = grid.first;
  t.glen = grid.glen;
  t.boxVol = 1;
  for (var a = 0; a < 3; a++) {
    t.last[a] = min(t.i0[a] + shape[a], t.glen[a]) - 1;
    let k = uniforms.kernel[a];
    let s = uniforms.stride[a];
    let c = axisCausal(a);
    t.boxStart[a] = getWindowStart(t.i0[a], k, s, t.glen[a], c);
    let lastStart = getWindowStart(t.last[a], k, s, t.glen[a], c);
    t.boxLen[a] = getWindowEnd(t.last[a], lastStart, k, t.glen[a], c) - t.boxStart[a];
    t.boxVol *= t.boxLen[a];
  }
  t.boxChunks = (t.boxVol + BK - 1) / BK;
  t.chunks = t.boxChunks + (uniforms.nExtra + BK - 1) / BK;
  if (grid.empty) {
    t.chunks = 0;
  }
  return t;
}

// The window [start, end) per axis of the in-group query position iHat of the tile (in-group key positions).
fn queryWindowStart(t : QueryTile, iHat : vec3<i32>) -> vec3<i32> {
  var w : vec3<i32>;
  for (var a = 0; a < 3; a++) {
    w[a] = getWindowStart(iHat[a], uniforms.kernel[a], uniforms.stride[a], t.glen[a], axisCausal(a));
  }
  return w;
}

fn queryWindowEnd(t : QueryTile, iHat : vec3<i32>, start : vec3<i32>) -> vec3<i32> {
  var w : vec3<i32>;
  for (var a = 0; a < 3; a++) {
    w[a] = getWindowEnd(iHat[a], start[a], uniforms.kernel[a], t.glen[a], axisCausal(a));
  }
  return w;
}

// In-group position of box key lin (lin < boxVol).
fn boxKeyHat(t : QueryTile, lin : i32) -> vec3<i32> {
  let bl = t.boxLen;
  return t.boxStart + vec3<i32>(lin / (bl.y * bl.z), (lin / bl.z) % bl.y, lin % bl.z);
}

`;

/**
 * Statements (query-tiled programs, at the start of main after the tile is made): the tile rows' output rows
 * (`rowRow`, -1 past the group), and for the thread's rows i: `rowHat_i` (in-group position), `rowValid_i`,
 * `rlo_i`/`rlen_i` (window; length 0 for rows past the group) and `rb_i` (rpb part, bias programs); the warp's
 * window bounds `warpLo`/`warpHi` (union of its rows' windows, inclusive); the tile's window intersection
 * `interLo`/`interHi` (inclusive).
 */
export function queryTilePrologue(g: TiledWgsl): string {
  const t = g.t;
  return `
  for (var r = lid; r < BQ; r += THREADS) {
    let hat = t.i0 + tileCoord(r);
    let token = tokenOf(t.g + uniforms.dilation.xyz * hat);
    rowRow[r] = select(-1, (t.b * uniforms.numTokens + token) * uniforms.heads + t.h, all(hat < t.glen));
  }
${unroll(t.tm, i => `  let rowHat_${i} = t.i0 + tileCoord(tr * TM + ${i});
  let rowValid_${i} = all(rowHat_${i} < t.glen);
  let rlo_${i} = queryWindowStart(t, rowHat_${i});
  let rlen_${i} = select(vec3<i32>(0), queryWindowEnd(t, rowHat_${i}, rlo_${i}) - rlo_${i}, rowValid_${i});
  let rb_${i} = t.h * rpbVolume() + rpbPart(uniforms.kernel.xyz - vec3<i32>(1)) - rpbPart(rowHat_${i});`)}
  // The warp's rows (WARP_TR rows of the grid) as a range of the tile, clamped to the group.
  let warpFirst = (tr / WARP_TR) * WARP_TR * TM;
  let wb = linearBounds(t.i0, vec3<i32>(T0, T1, T2), warpFirst, min(warpFirst + WARP_TR * TM, BQ) - 1);
  let warpRowsValid = all(wb.lo < t.glen);
  let warpHiRow = min(wb.hi, t.glen - vec3<i32>(1));
  let warpLo = queryWindowStart(t, wb.lo);
  let warpHiStart = queryWindowStart(t, warpHiRow);
  let warpHi = queryWindowEnd(t, warpHiRow, warpHiStart) - vec3<i32>(1);
  // The windows' intersection over the tile's rows: a chunk inside it on every axis needs no mask.
  let interLo = queryWindowStart(t, t.last);
  let interHi = queryWindowEnd(t, t.i0, queryWindowStart(t, t.i0)) - vec3<i32>(1);`;
}

/**
 * Statements: one thread per column decodes chunk `c`'s key once into table set `set` (WGSL expressions):
 * `colRow` (its row in the key/value or extras buffers, -1: none) and `colPos` (in-group position and rpb part;
 * FAR for extra tokens and padding); the last thread the chunk's bounds per axis (`chunkLo`/`chunkHi`, integer
 * divisions done once instead of in every thread).
 */
function buildChunkTables(c: string, set: string): string {
  return `
      let kc = ${c};
      let kExtra = kc >= t.boxChunks;
      if (lid < BK) {
        var row = -1;
        var pos = vec4<i32>(FAR, FAR, FAR, 0);
        if (!kExtra) {
          let lin = kc * BK + lid;
          if (lin < t.boxVol) {
            let hat = boxKeyHat(t, lin);
            row = (t.b * uniforms.numTokens + tokenOf(t.g + uniforms.dilation.xyz * hat)) * uniforms.headsKv + t.hk;
            pos = vec4<i32>(hat, rpbPart(hat));
          }
        } else {
          let e = (kc - t.boxChunks) * BK + lid;
          row = select(-1, (t.b * uniforms.nExtra + e) * uniforms.headsKv + t.hk, e < uniforms.nExtra);
        }
        colRow[(${set}) * BK + lid] = row;
        colPos[(${set}) * BK + posSlot(lid)] = pos;
      }
      if (lid == THREADS - 1 && !kExtra) {
        let cb = linearBounds(t.boxStart, t.boxLen, kc * BK, min(kc * BK + BK, t.boxVol) - 1);
        chunkLo[${set}] = cb.lo;
        chunkHi[${set}] = cb.hi;
      }`;
}

/**
 * Statements (query-tiled programs, at the start of chunk c, after a barrier): chunk c's tables
 * (buildChunkTables; with `ahead`, chunk c + 1's into the other set, chunk c's being made the chunk before, or
 * by firstChunkTables), then `isExtra` (an extra-token chunk), `tb` (with `ahead`: the current set's first
 * index), `warpActive` (the warp's rows see some column of the chunk) and `chunkFull` (every column is a key
 * inside every row's window: no mask needed).
 */
export function queryChunkTables(ahead = false): string {
  const set = ahead ? '(c % 2)' : '0';
  return `
    let isExtra = c >= t.boxChunks;${ahead ? `
    let tb = (c % 2) * BK;
    if (c + 1 < chunks) {${buildChunkTables('c + 1', '((c + 1) % 2)')}
    }` : `
    {${buildChunkTables('c', '0')}
    }
    workgroupBarrier();`}
    var warpActive = warpRowsValid;
    var chunkFull = false;
    if (!isExtra) {
      let lo = chunkLo[${set}];
      let hi = chunkHi[${set}];
      warpActive = warpActive && all(lo <= warpHi) && all(hi >= warpLo);
      chunkFull = c * BK + BK <= t.boxVol && all(lo >= interLo) && all(hi <= interHi);
    }`;
}

/** Statements (`ahead` programs, before the chunk loop): chunk 0's tables into set 0, then a barrier. */
export function firstChunkTables(): string {
  return `
  {${buildChunkTables('0', '0')}
  }
  workgroupBarrier();`;
}

/** Statements: the thread's columns' positions `cp_j` (and rows `cr_j` with extra tokens) from the tables. */
export function columnPositions(g: TiledWgsl, hasExtra: boolean): string {
  return unroll(g.t.tn, j => `    let cp${j} = colPos[${g.tb}posSlot(tc * TN + ${j})];${
      hasExtra ? ` let cr${j} = colRow[${g.tb}tc * TN + ${j}];` : ''}`);
}

/**
 * WGSL expressions for score (i, j) of the thread's block: `vis` (key j is in row i's window, or an existing
 * extra token) and `bias` (its rpb term, '' without rpb).
 */
export function maskedScore(i: number, j: number, hasRpb: boolean, hasExtra: boolean): {vis: string, bias: string} {
  let vis = `select(inWindow(cp${j}.xyz, rlo_${i}, rlen_${i}), rowValid_${i}, chunkFull)`;
  let bias = hasRpb ? `rpb[max(rb_${i} + cp${j}.w, 0)]` : '';
  if (hasExtra) {
    vis = `select(${vis}, rowValid_${i} && cr${j} >= 0, isExtra)`;
    bias = bias && `select(${bias}, 0.0, isExtra)`;
  }
  return {vis, bias};
}

/**
 * WGSL: whether a vector holds Inf or NaN, from its bits (an exponent of all ones), so that no compiler may fold
 * the test away by assuming finite floats.
 */
export const NON_FINITE_WGSL = `
fn nonFinite4(v : vec4<f32>) -> bool {
  return any((bitcast<vec4<u32>>(v) & vec4<u32>(0x7f800000u)) == vec4<u32>(0x7f800000u));
}
fn nonFinite(v : f32) -> bool {
  return (bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u;
}
fn isNanBits(v : f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}
fn allNan4(v : vec4<f32>) -> bool {
  return all((bitcast<vec4<u32>>(v) & vec4<u32>(0x7fffffffu)) > vec4<u32>(0x7f800000u));
}
`;

/**
 * Statements (query-tiled programs, after the chunk loop): `body` for every key of row i's window in order
 * (with `krow`, the key's row in the key/value buffers, and `kbias`, its rpb term or 0), then for every extra
 * token (`krow` its row in the extras buffer, `kbias` 0) with `extraBody`, until the WGSL condition `stop` holds.
 * The exact work of one row: what the dq pass redoes for a row whose part came out non-finite (see exactRows).
 */
export function walkRowWindow(i: number, hasRpb: boolean, hasExtra: boolean, body: string, extraBody: string,
                              stop: string): string {
  return `
    let keys_${i} = rlen_${i}.x * rlen_${i}.y * rlen_${i}.z;
    for (var n = 0; n < keys_${i}${hasExtra ? ' + uniforms.nExtra' : ''} && !(${stop}); n++) {
      if (n < keys_${i}) {
        let hat = rlo_${i} + vec3<i32>(n / (rlen_${i}.y * rlen_${i}.z), (n / rlen_${i}.z) % rlen_${i}.y, n % rlen_${i}.z);
        let krow = (t.b * uniforms.numTokens + tokenOf(t.g + uniforms.dilation.xyz * hat)) * uniforms.headsKv + t.hk;
        let kbias = ${hasRpb ? `rpb[max(rb_${i} + rpbPart(hat), 0)]` : '0.0'};${body}
      }${hasExtra ? ` else {
        let krow = (t.b * uniforms.nExtra + n - keys_${i}) * uniforms.headsKv + t.hk;
        let kbias = 0.0;${extraBody}
      }` : ''}
    }`;
}

/**
 * Statements (query-tiled programs, after the chunk loop): row i's `steps` vec4 sums of the thread's columns,
 * redone over the row's window and the extra tokens (walkRowWindow) into `acc_i_n`. For each key: its score
 * `s = q . k` (unscaled), then `weight` (statements, given the key's and value's loaders, that end in
 * `let w = ...;`), then `w` times the thread's columns of its `column` row. A NaN sum stays NaN: the walk stops
 * once every one of the thread's sums is.
 */
export function exactRowSums(i: number, steps: number, hasRpb: boolean, hasExtra: boolean, acc: string,
                             weight: (ldKey: string, ldValue: string) => string, column: 'key' | 'value'): string {
  const body = (ldKey: string, ldValue: string) => `
          var s = 0.0;
          for (var d4 = 0; d4 < (uniforms.headDim + 3) / 4; d4++) {
            s += dot(ldQuery(outRow_${i}, d4), ${ldKey}(krow, d4));
          }${weight(ldKey, ldValue)}
${unroll(steps, n => `          x_${n} = fma(vec4<f32>(w), ${column === 'key' ? ldKey : ldValue}(krow, ${n} * GC + tc), x_${n});`)}`;
  const stop = unroll(steps, n => `allNan4(x_${n})`, ' && ');
  return `
    ${unroll(steps, n => `var x_${n} = vec4<f32>(0.0);`, ' ')}${
      walkRowWindow(i, hasRpb, hasExtra, body('ldKey', 'ldValue'), body('ldExtraKey', 'ldExtraValue'), stop)}
    ${unroll(steps, n => `${acc}_${i}_${n} = x_${n};`, ' ')}`;
}

/**
 * Statements (query-tiled programs, after the chunk loop): for each of the thread's rows i whose accumulator
 * `acc_i_n` (n < steps) holds Inf or NaN, `redo(i)`: statements that recompute it over the row's window alone.
 * The tiles multiply every column of a chunk, masked ones by an exact zero, so an Inf or NaN in a column's row
 * outside a row's window (a key, in dq) would enter that row as 0 * Inf = NaN; the spec's arithmetic runs over
 * the window only. Rare (only where such operands hold Inf or NaN) and per thread; rows for which `skip(i)` holds
 * (their value is already exact) are left alone. (The forward redoes its non-finite elements in the copy that
 * hands its output back, NAForwardExactCopyProgram, except where it writes its output alone: directForward.)
 */
export function exactRows(g: TiledWgsl, acc: string, steps: number, redo: (i: number) => string, skip = (i: number) => 'false'):
    string {
  return unroll(g.t.tm, i => `
  if (rowValid_${i} && !(${skip(i)}) && (${unroll(steps, n => `nonFinite4(${acc}_${i}_${n})`, ' || ')})) {${redo(i)}
  }`, '');
}

/** Statements: `key` for key chunks, `extra` for extra-token chunks (one branch without extra tokens). */
export function byColumnKind(hasExtra: boolean, key: string, extra: string): string {
  return hasExtra ? `
    if (isExtra) {${extra}
    } else {${key}
    }` : key;
}
