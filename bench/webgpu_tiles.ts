/**
 * The fused WebGPU programs side by side on the GPU presets, in one process: the row programs and the tiled
 * ones under several tile shapes (NATTEN_WEBGPU_FUSED / NATTEN_WEBGPU_TILE), fused forward and, with
 * `--backward`, forward+backward. GPU time as in bench.ts: inputs resident, a warm-up call (pipeline
 * compilation), then a batch of calls closed by a one-element readback, divided by the calls. Each program's
 * output is checked against the preset's first one (the row program, or the built-in tiled one): the last
 * column, a relative L2 difference (float32 sums in another order: about 1e-6; a wrong program: about 1).
 *
 *   npx tsx bench/webgpu_tiles.ts [--preset 2d-nat,2d-large] [--backward] [--budget-ms 2000] [--extra-only]
 *                                 [--rounds N] [--profile] [--rpb] [--extra N]
 *
 * `--rpb` gives every call a relative positional bias, `--extra N` N extra key/value tokens (the backward then
 * also runs their gradients' passes).
 * `--profile`: after each program's timings, one call (and with `--backward` one forward+backward) under tf.time,
 * and its GPU time per WebGPU program (timestamp queries; summed over the programs of one name), so that the
 * passes of a backward are seen apart.
 *
 * The halo forward (NATTEN_WEBGPU_FUSED=halo, for windows up to 256 keys) runs under a few tiles too.
 * Extra tile shapes to try: NATTEN_WEBGPU_TILES='[{"tile":[1,4,8],"gr":8,"gc":16,"tm":4,"tn":4,"dimChunk":32}]';
 * `--extra-only` times only the built-in choice and those. `--rounds N` times the whole list N times over (the
 * H200's times drift by up to 10% within a run: the rounds show which differences outlast the drift).
 * Run where WebGPU works (test/webgpu_node.ts's variables); the GPU machine runs its bundle
 * (scripts/gpu/prepare.sh).
 */
import * as tf from '@tensorflow/tfjs';
import {na1d, na2d, na3d, NATTEN_WEBGPU_FUSED, NATTEN_WEBGPU_TILE} from '../src/index';
import type {GemmTileTraits} from '../src/kernels/webgpu/tile_traits';
import {timeGpu} from './gpu_time';
import {naFlops, Preset, PRESETS} from './presets';

/**
 * Shapes per rank worth comparing beside the built-in choice ('' below: the forward's pick, FORWARD_PICKS in
 * src/kernels/webgpu/tile_traits.ts, where one applies). `resident`: the forward stages the query tile once
 * (every head dim) instead of once per key chunk; `prefetch`: keys and values through registers loaded a step
 * ahead, keys double-buffered; `ahead`: also the next chunk's tables and first key step. With gc = 8 a head dim
 * of 32 stays 32 (gc = 16 rounds it up to 64: one accumulation step is 4 * gc output columns).
 */
const SHAPES: Record<number, GemmTileTraits[]> = {
  1: [
    {tile: [1, 1, 32], gr: 8, gc: 8, tm: 4, tn: 4, dimChunk: 32},
    {tile: [1, 1, 32], gr: 8, gc: 16, tm: 4, tn: 4, dimChunk: 32},
    {tile: [1, 1, 64], gr: 8, gc: 16, tm: 8, tn: 4, dimChunk: 32},
  ],
  // Round 2 (after the H200's round 1, GPU-RESULTS.md): around round 1's winners, [1,4,4] 8x8 of 2x4 resident
  // for head dim 32 and [1,4,8] 8x8 of 4x4 resident prefetch for 64 (the picks have moved on since).
  2: [
    {tile: [1, 4, 4], gr: 8, gc: 8, tm: 2, tn: 4, dimChunk: 32},
    {tile: [1, 4, 4], gr: 8, gc: 8, tm: 2, tn: 4, dimChunk: 32, resident: true},
    {tile: [1, 4, 4], gr: 8, gc: 8, tm: 2, tn: 4, dimChunk: 32, resident: true, prefetch: true},
    {tile: [1, 4, 4], gr: 8, gc: 8, tm: 2, tn: 4, dimChunk: 16, resident: true, prefetch: true},
    {tile: [1, 4, 4], gr: 16, gc: 4, tm: 1, tn: 4, dimChunk: 32, resident: true},
    {tile: [1, 2, 8], gr: 8, gc: 8, tm: 2, tn: 4, dimChunk: 32, resident: true},
    {tile: [1, 4, 8], gr: 8, gc: 8, tm: 4, tn: 4, dimChunk: 32, resident: true},
    {tile: [1, 4, 8], gr: 8, gc: 8, tm: 4, tn: 4, dimChunk: 32, resident: true, prefetch: true},
    {tile: [1, 4, 8], gr: 16, gc: 8, tm: 2, tn: 4, dimChunk: 32},
    {tile: [1, 4, 8], gr: 16, gc: 8, tm: 2, tn: 4, dimChunk: 32, resident: true, prefetch: true},
    {tile: [1, 8, 8], gr: 16, gc: 8, tm: 4, tn: 4, dimChunk: 32, resident: true},
    {tile: [1, 8, 8], gr: 16, gc: 16, tm: 4, tn: 4, dimChunk: 32},
    {tile: [1, 4, 4], gr: 8, gc: 8, tm: 2, tn: 4, dimChunk: 32, resident: true, prefetch: true, ahead: true},
    {tile: [1, 4, 8], gr: 8, gc: 8, tm: 4, tn: 4, dimChunk: 32, resident: true, prefetch: true, ahead: true},
    {tile: [1, 4, 8], gr: 16, gc: 8, tm: 2, tn: 4, dimChunk: 32, resident: true, prefetch: true, ahead: true},
  ],
  // Round 2: around [2,4,4] 8x16 of 4x4 resident prefetch (172 ms; now the built-in choice for head dim 128).
  3: [
    {tile: [2, 4, 8], gr: 16, gc: 16, tm: 4, tn: 4, dimChunk: 32},
    {tile: [2, 4, 4], gr: 8, gc: 16, tm: 4, tn: 4, dimChunk: 32, resident: true, prefetch: true},
    {tile: [2, 4, 4], gr: 8, gc: 16, tm: 4, tn: 4, dimChunk: 16, resident: true, prefetch: true},
    {tile: [2, 4, 4], gr: 16, gc: 8, tm: 2, tn: 4, dimChunk: 32, resident: true, prefetch: true},
    {tile: [2, 4, 4], gr: 16, gc: 16, tm: 2, tn: 4, dimChunk: 32, resident: true, prefetch: true},
    {tile: [2, 4, 4], gr: 8, gc: 8, tm: 4, tn: 4, dimChunk: 32, resident: true, prefetch: true},
    {tile: [2, 2, 4], gr: 8, gc: 16, tm: 2, tn: 4, dimChunk: 32, resident: true, prefetch: true},
    {tile: [1, 4, 8], gr: 8, gc: 16, tm: 4, tn: 4, dimChunk: 32, resident: true, prefetch: true},
    {tile: [1, 4, 8], gr: 16, gc: 8, tm: 2, tn: 4, dimChunk: 32, resident: true, prefetch: true},
    {tile: [2, 4, 4], gr: 8, gc: 16, tm: 4, tn: 4, dimChunk: 32, resident: true, prefetch: true, ahead: true},
    {tile: [2, 4, 4], gr: 16, gc: 8, tm: 2, tn: 4, dimChunk: 32, resident: true, prefetch: true, ahead: true},
    {tile: [2, 4, 4], gr: 16, gc: 16, tm: 2, tn: 4, dimChunk: 32, resident: true, prefetch: true, ahead: true},
  ],
};

/** Halo forward tiles per rank ('' = its default; the backward runs the row programs). */
const HALO: Record<number, string[]> = {
  1: ['', JSON.stringify({tile: [1, 1, 64], parts: 4})],
  2: ['', JSON.stringify({tile: [1, 4, 8], parts: 2}), JSON.stringify({tile: [1, 2, 8], parts: 4}),
      JSON.stringify({tile: [1, 4, 4], parts: 4})],
  3: [''],
};

interface Args {
  presets: string[];
  backward: boolean;
  budgetMs: number;
  extraOnly: boolean;
  /** With a relative positional bias; with this many extra key/value tokens. */
  rpb: boolean;
  extraTokens: number;
  rounds: number;
  profile: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = {presets: ['2d-nat', '2d-large', '1d-long', '3d-video'], backward: false, budgetMs: 2000,
                      extraOnly: false, rounds: 1, profile: false, rpb: false,
                      extraTokens: 0};
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--preset') {
      args.presets = argv[++i].split(',');
    } else if (argv[i] === '--backward') {
      args.backward = true;
    } else if (argv[i] === '--budget-ms') {
      args.budgetMs = Number(argv[++i]);
    } else if (argv[i] === '--profile') {
      args.profile = true;
    } else if (argv[i] === '--extra-only') {
      args.extraOnly = true;
    } else if (argv[i] === '--rpb') {
      args.rpb = true;
    } else if (argv[i] === '--extra') {
      args.extraTokens = Number(argv[++i]);
      if (!Number.isInteger(args.extraTokens) || args.extraTokens < 1) {
        throw new Error(`webgpu_tiles: --extra takes a whole number of at least 1, got ${argv[i]}`);
      }
    } else if (argv[i] === '--rounds') {
      args.rounds = Number(argv[++i]);
      if (!Number.isInteger(args.rounds) || args.rounds < 1) {
        throw new Error(`webgpu_tiles: --rounds takes a whole number of at least 1, got ${argv[i]}`);
      }
    } else {
      throw new Error(`webgpu_tiles: unknown argument ${argv[i]}; expected --preset, --backward, --budget-ms, ` +
                      '--extra-only, --rounds, --profile, --rpb, --extra');
    }
  }
  return args;
}

/**
 * GPU time per program of one call of `fn` (tf.time's timestamp queries), summed over the programs of each name,
 * as "name ms, name ms (total ms)"; or why there is none.
 */
async function programTimes(fn: () => tf.Tensor[]): Promise<string> {
  const info = await tf.time(() => tf.dispose(fn()));
  // tfjs-backend-webgpu 4.22: "Name: ms, Name: ms, ..." (the program classes' names, one entry per program run).
  const extra = (info as unknown as {getExtraProfileInfo?: () => string}).getExtraProfileInfo;
  if (typeof info.kernelMs !== 'number' || extra == null) {
    return `no per-program times (${JSON.stringify(info.kernelMs)})`;
  }
  const byName = new Map<string, number>();
  for (const entry of extra().split(', ')) {
    const at = entry.lastIndexOf(': ');
    const name = entry.slice(0, at), ms = Number(entry.slice(at + 2));
    byName.set(name, (byName.get(name) ?? 0) + ms);
  }
  return `${[...byName].map(([name, ms]) => `${name} ${ms.toFixed(3)}`).join(', ')} (total ${info.kernelMs.toFixed(3)} ms)`;
}

/** ||a - b|| / ||b|| over all elements, on the device (one scalar read back). */
async function relativeDiff(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const r = tf.tidy(() => tf.sqrt(tf.div(tf.sum(tf.square(tf.sub(a, b))), tf.sum(tf.square(b)))));
  const value = (await r.data())[0];
  r.dispose();
  return value;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const setup = require('../test/webgpu_node').setupNodeWebGPU();
  if (!setup.ok || !(await tf.setBackend('webgpu'))) {
    throw new Error(`webgpu unavailable: ${setup.reason}`);
  }
  const extra: GemmTileTraits[] = JSON.parse(process.env.NATTEN_WEBGPU_TILES ?? '[]');
  console.log('| preset | program | tile | fwd ms | fwd TFLOP/s | fwd+bwd ms | rel. diff to the first |');
  console.log('|--------|---------|------|--------|-------------|------------|------------------------|');
  for (const name of args.presets) {
    const p = PRESETS.find(x => x.name === name) as Preset;
    if (p == null) {
      throw new Error(`webgpu_tiles: unknown preset ${name}`);
    }
    const rank = p.spatial.length;
    const shape = [p.batch, ...p.spatial, p.heads, p.headDim];
    const [q, k, v] = [0, 1, 2].map(() => tf.tidy(() => tf.mul(tf.randomNormal(shape), 1)));
    const op = [na1d, na2d, na3d][rank - 1];
    const rpb = args.rpb ? tf.tidy(() => tf.mul(tf.randomNormal([p.heads, ...p.kernelSize.map(k => 2 * k - 1)]), 0.5)) :
        undefined;
    const extraShape = [p.batch, args.extraTokens, p.heads, p.headDim];
    const [additionalKeys, additionalValues] = args.extraTokens > 0 ?
        [0, 1].map(() => tf.tidy(() => tf.mul(tf.randomNormal(extraShape), 1))) : [undefined, undefined];
    const options = {kernelSize: p.kernelSize, dilation: p.dilation, rpb, additionalKeys, additionalValues};
    const forward = () => [op(q, k, v, options) as tf.Tensor];
    // The upstream gradient given and resident, as in bench.ts: without it tf.grads makes ones on the host and
    // uploads them every call (755 MB on 3d-video), which this tool's forward+backward used to time as well.
    const dOut = tf.tidy(() => tf.mul(tf.randomNormal(shape), 1));
    const both = () => tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => op(a, b, c, options) as tf.Tensor)([q, k, v], dOut);
    const volume = p.kernelSize.reduce((a, b) => a * b, 1);
    const extraHere = extra.filter(t => t.tile.filter(x => x > 1).length <= rank);
    const list: Array<[string, string]> = args.extraOnly ?
        [['tiled', ''], ...extraHere.map(t => ['tiled', JSON.stringify(t)] as [string, string])] :
        [
          ...(volume <= 256 && p.headDim <= 64 ? [['row', ''] as [string, string]] : []),
          ...(volume <= 256 && p.headDim <= 64 ? HALO[rank].map(t => ['halo', t] as [string, string]) : []),
          ['tiled', ''],
          ...[...SHAPES[rank], ...extraHere].map(t => ['tiled', JSON.stringify(t)] as [string, string]),
        ];
    const runs = Array.from({length: args.rounds}, () => list).flat();
    let first: tf.Tensor | null = null;
    for (const [fused, tile] of runs) {
      tf.env().set(NATTEN_WEBGPU_FUSED, fused);
      tf.env().set(NATTEN_WEBGPU_TILE, tile);
      const label = tile === '' ? (fused === 'tiled' ? 'built-in' : '-') : tile;
      try {
        const fwd = await timeGpu(forward, args.budgetMs);
        const bwd = args.backward ? (await timeGpu(both, args.budgetMs)).toFixed(2) : '-';
        const out = forward()[0];
        const diff = first == null ? '-' : (await relativeDiff(out, first)).toExponential(1);
        if (first == null) {
          first = out;
        } else {
          out.dispose();
        }
        console.log(`| ${p.name} | ${fused} | ${label} | ${fwd.toFixed(3)} | ${(naFlops(p) / fwd / 1e9).toPrecision(3)} | ${
            bwd} | ${diff} |`);
        if (args.profile) {
          console.log(`  forward programs: ${await programTimes(forward)}`);
          if (args.backward) {
            console.log(`  forward+backward programs: ${await programTimes(both)}`);
          }
        }
      } catch (e) {
        console.log(`| ${p.name} | ${fused} | ${label} | failed: ${(e as Error).message.slice(0, 120)} | | |`);
      }
    }
    tf.env().set(NATTEN_WEBGPU_FUSED, 'auto');
    tf.env().set(NATTEN_WEBGPU_TILE, '');
    tf.dispose([q, k, v, dOut, ...(first != null ? [first] : [])]);
    tf.dispose([rpb, additionalKeys, additionalValues].filter((t): t is tf.Tensor => t != null));
  }
  process.exit(0);
}

main().catch(e => {
  console.error(e);
  process.exit(1);
});
