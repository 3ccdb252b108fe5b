/**
 * The sweep of the fused forward's tile configurations (`node cuda_bench.js --sweep`; scripts/gpu-cuda-check.sh's
 * `sweep` phase). Per GPU preset, in TF32: every configuration of the addon's `forwardConfigs()` that fits the
 * preset's head-dim bucket is first self-checked against the reference kernels (forward only, on the preset's
 * geometry cut down to batch 1, one head and, in 3-D, half the length per axis), then timed on the full preset
 * (CUDA events, data on the device, median). Prints one table per preset, the best configuration, and how far
 * the dispatcher's own choice is from it; the JSON holds every number. A configuration that fails its check is
 * never reported as best.
 */
import {cudaAddon, CudaProblem} from '../src/kernels/cuda/addon';
import {formatTable} from './table';
import {naFlops, Preset} from './presets';

export interface SweepRow {
  preset: string;
  config: number;  // -1: the dispatcher's choice
  warps: number;
  blockN: number;
  minBlocks: number;
  qInRegisters: boolean;
  lean: number;  // ForwardConfig::lean bits (native/include/natten/cuda/kernel_traits.h)
  tileByReach: boolean;
  kernels: string;
  checkRelErr: number;
  checkPass: boolean;
  forwardMs: number;
  forwardTflops: number;
  error?: string;
}

/** The preset's geometry, small enough for the reference kernels (which recompute each row's softmax per element). */
export function checkProblemOf(p: CudaProblem): CudaProblem {
  const spatialAxes = p.length.filter((l, a) => l > 1 || p.kernel[a] > 1).length;
  const length = p.length.map((l, a) => (spatialAxes === 3 ? Math.max(p.kernel[a] * p.dilation[a], Math.ceil(l / 2)) : l));
  return {...p, batch: 1, heads: 1, headsKv: 1, length};
}

export function sweepPreset(p: Preset, problem: CudaProblem, iters: number, warmup: number, seed: number): SweepRow[] {
  const addon = cudaAddon();
  const rows: SweepRow[] = [];
  const candidates = [-1, ...addon.forwardConfigs().map(c => c.index)];
  for (const config of candidates) {
    const options = {precision: 'tf32' as const, ...(config >= 0 ? {forwardConfig: config} : {})};
    const kernels = addon.describeFused(problem, options);
    if (config >= 0 && !kernels.includes(`fwd config ${config} `)) {
      continue;  // does not fit this bucket (or this device's shared memory)
    }
    const c = config >= 0 ? addon.forwardConfigs()[config] : null;
    const row: SweepRow = {preset: p.name, config, warps: c?.warps ?? 0, blockN: c?.blockN ?? 0,
                           minBlocks: c?.minBlocks ?? 0, qInRegisters: c?.qInRegisters ?? false,
                           lean: c?.lean ?? 0,
                           tileByReach: c?.tileByReach ?? false, kernels,
                           checkRelErr: NaN, checkPass: false, forwardMs: NaN, forwardTflops: NaN};
    try {
      const check = addon.selfCheck(checkProblemOf(problem), {...options, seed, forwardOnly: true});
      row.checkRelErr = Math.max(...check.results.map(r => r.relErr));
      row.checkPass = check.results.length > 0 && check.results.every(r => r.pass);
      const r = addon.benchmark(problem, {...options, iters, warmup, forwardOnly: true});
      row.forwardMs = r.forwardMs;
      row.forwardTflops = naFlops(p) / (r.forwardMs * 1e9);
    } catch (e) {
      row.error = (e as Error)?.message ?? String(e);
    }
    rows.push(row);
    console.log(`sweep ${p.name} config ${config < 0 ? 'auto' : config} [${kernels}]: check ${
        row.checkPass ? 'pass' : 'FAIL'} ${row.checkRelErr.toExponential(2)}, forward ${row.forwardMs.toFixed(3)} ms${
        row.error ? ` (${row.error})` : ''}`);
  }
  return rows;
}

function shapeOf(r: SweepRow): string {
  return `${r.warps}x${r.blockN}${r.minBlocks ? `x${r.minBlocks}` : ''}${r.qInRegisters ? ' Q in regs' : ''}${
      r.lean ? ` lean ${r.lean}` : ''}${r.tileByReach ? ' reach tile' : ''}`;
}

export function printSweep(rows: SweepRow[]): void {
  const presets = [...new Set(rows.map(r => r.preset))];
  for (const name of presets) {
    const mine = rows.filter(r => r.preset === name);
    const auto = mine.find(r => r.config < 0);
    const good = mine.filter(r => r.config >= 0 && r.checkPass && Number.isFinite(r.forwardMs));
    const best = good.reduce<SweepRow | null>((a, b) => (a == null || b.forwardMs < a.forwardMs ? b : a), null);
    console.log(`\nSweep ${name} (TF32 forward; check: forward only against the reference, reduced shape):`);
    console.log(formatTable(
        ['config', 'warps x keys [x CTAs/SM]', 'tile', 'check', 'rel err', 'fwd ms', 'fwd TFLOP/s', 'vs auto'],
        mine.map(r => [r.config < 0 ? 'auto' : String(r.config), r.config < 0 ? '' : shapeOf(r),
                       (/tile (\S+)/.exec(r.kernels) ?? ['', '?'])[1],
                       r.checkPass ? 'pass' : 'FAIL', r.checkRelErr.toExponential(2), r.forwardMs.toFixed(3),
                       r.forwardTflops.toFixed(1),
                       auto && Number.isFinite(auto.forwardMs) ? (auto.forwardMs / r.forwardMs).toFixed(2) + 'x' : '']
                     )));
    if (best != null) {
      console.log(`BEST ${name}: config ${best.config} (${shapeOf(best)}) ${
          best.forwardMs.toFixed(3)} ms; auto ${auto?.forwardMs.toFixed(3)} ms [${auto?.kernels}]`);
    } else {
      console.log(`BEST ${name}: none (no configuration passed its check)`);
    }
  }
  const failed = rows.filter(r => !r.checkPass);
  console.log(`sweep: ${rows.length - failed.length} of ${rows.length} configuration runs pass their check${
      failed.length ? '; FAILED: ' + failed.map(r => `${r.preset} config ${r.config}`).join(', ') : ''}`);
}
