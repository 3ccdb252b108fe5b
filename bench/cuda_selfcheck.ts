/**
 * The CUDA self-check on its own (GPU machine; scripts/gpu-cuda-check.sh runs it before the suites):
 *   node cuda_selfcheck.js [--json FILE] [--seed N] [--cases 0,3,...]
 * Runs the addon's selfCheck on every GPU case (test/cuda_cases.ts) in TF32 and float32: each op's outputs
 * (fused forward and backward, QK and AV forward and backward) from the fast kernels against the reference
 * kernels on the same random inputs, outputs poisoned with NaN first. Prints one line per case and precision
 * and a table of the worst relative error per op; exits 1 if anything fails.
 */
import * as fs from 'fs';
import {cudaStatus} from '../src/index';
import {cudaAddon, SelfCheckResult} from '../src/kernels/cuda/addon';
import {cudaProblemOf, describeSpec, GPU_CASES} from '../test/cuda_cases';
import {formatTable} from './table';

function main(): void {
  const argv = process.argv.slice(2);
  const arg = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const status = cudaStatus();
  if (!status.available) {
    console.error(`cuda_selfcheck: CUDA is unavailable: ${status.reason}`);
    process.exit(1);
  }
  const addon = cudaAddon();
  const seed = Number(arg('--seed') ?? 2025);
  const picked = arg('--cases')?.split(',').map(Number) ?? GPU_CASES.map((_, i) => i);
  console.log(`cuda_selfcheck: ${status.device!.name}, addon built for ${addon.buildInfo.archs}, ${picked.length} cases`);
  const records: Array<{case: string, precision: string, kernels: string, results: SelfCheckResult[],
                        fastForwardMs: number, fastBackwardMs: number, error?: string}> = [];
  let failures = 0;
  for (const i of picked) {
    const spec = GPU_CASES[i];
    for (const precision of ['tf32', 'float32'] as const) {
      const t0 = Date.now();
      try {
        const r = addon.selfCheck(cudaProblemOf(spec), {precision, seed});
        const bad = r.results.filter(x => !x.pass);
        failures += bad.length;
        const worst = r.results.reduce((a, b) => (b.relErr / b.tolerance > a.relErr / a.tolerance ? b : a));
        console.log(`${bad.length ? 'FAIL' : 'pass'} #${i} ${precision} ${describeSpec(spec)} [${r.kernels}] worst ${
            worst.op} ${worst.tensor} ${worst.relErr.toExponential(2)} (limit ${worst.tolerance}) in ${
            ((Date.now() - t0) / 1000).toFixed(1)} s${bad.length ? ': ' + bad.map(b => `${b.op} ${b.tensor} rel ${
            b.relErr.toExponential(2)} bad ${b.bad}/${b.elems}`).join('; ') : ''}`);
        records.push({case: describeSpec(spec), precision, kernels: r.kernels, results: r.results,
                      fastForwardMs: r.fastForwardMs, fastBackwardMs: r.fastBackwardMs});
      } catch (e) {
        failures++;
        const message = (e as Error)?.message ?? String(e);
        console.log(`FAIL #${i} ${precision} ${describeSpec(spec)}: ${message}`);
        records.push({case: describeSpec(spec), precision, kernels: '', results: [], fastForwardMs: 0,
                      fastBackwardMs: 0, error: message});
      }
    }
  }
  // Worst relative error per (op, tensor, precision) over all cases.
  const worst = new Map<string, number>();
  for (const r of records) {
    for (const x of r.results) {
      const key = `${x.op}|${x.tensor}|${r.precision}`;
      worst.set(key, Math.max(worst.get(key) ?? 0, x.relErr));
    }
  }
  console.log(formatTable(['op', 'tensor', 'precision', 'worst rel err'],
                          [...worst.entries()].map(([k, v]) => [...k.split('|'), v.toExponential(2)])));
  console.log(`cuda_selfcheck: ${failures === 0 ? 'all pass' : `${failures} failures`}`);
  const json = arg('--json');
  if (json != null) {
    fs.writeFileSync(json, JSON.stringify({device: status.device, archs: addon.buildInfo.archs, seed, records}, null, 2));
  }
  process.exit(failures === 0 ? 0 : 1);
}

main();
