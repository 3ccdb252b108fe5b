/**
 * "Timing": runs `na2d` on every backend this browser has and shows the median time and the largest
 * difference of the output from the `cpu` backend's.
 */
import * as tf from '@tensorflow/tfjs';
import {na2d} from '../../src/index';
import {rng} from '../model';
import {activate, ALL_BACKENDS, describeNAPath, runOnClick} from './backends';

/** The problems offered: q/k/v shape `[batch, rows, cols, heads, headDim]` and kernel size. */
const PROBLEMS: Record<string, {shape: number[], kernelSize: number}> = {
  small: {shape: [1, 16, 16, 2, 16], kernelSize: 5},
  medium: {shape: [1, 32, 32, 4, 32], kernelSize: 7},
  large: {shape: [1, 64, 64, 4, 32], kernelSize: 7},
};
/** Runs per backend: at least MIN_RUNS, more while under BUDGET_MS. */
const MIN_RUNS = 3;
const BUDGET_MS = 1500;

/** Seeded inputs, the same on every backend. */
function inputValues(shape: number[]): Float32Array[] {
  const random = rng(12345);
  const n = shape.reduce((x, y) => x * y, 1);
  return [0, 1, 2].map(() => Float32Array.from({length: n}, () => random() - 0.5));
}

interface Timing {
  backend: string;
  path: string;
  runs: number;
  medianMs: number;
  output: Float32Array;
}

async function timeOn(backend: string, shape: number[], kernelSize: number, values: Float32Array[]):
    Promise<Timing | null> {
  if (!(await activate(backend))) {
    return null;
  }
  const [q, k, v] = values.map(x => tf.tensor(x, shape));
  const run = async () => {
    const out = na2d(q, k, v, {kernelSize}) as tf.Tensor;
    const data = (await out.data()) as Float32Array;
    out.dispose();
    return data;
  };
  const output = await run();  // warm-up: shader compilation, WebAssembly compilation, first uploads
  const times: number[] = [];
  const start = performance.now();
  while (times.length < MIN_RUNS || performance.now() - start < BUDGET_MS) {
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
  }
  tf.dispose([q, k, v]);
  times.sort((a, b) => a - b);
  return {backend, path: describeNAPath(shape[4]), runs: times.length, medianMs: times[times.length >> 1], output};
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i] - b[i]));
  }
  return m;
}

export class TimingView {
  private readonly button = document.getElementById('timing-button') as HTMLButtonElement;
  private readonly table = document.getElementById('timing-table') as HTMLTableElement;
  private readonly status = document.getElementById('timing-status')!;
  private readonly size = document.querySelector('#timing-controls select[name=size]') as HTMLSelectElement;

  constructor() {
    runOnClick(this.button, this.status, 'Timing', () => this.run());
  }

  private async run(): Promise<void> {
    const previous = tf.getBackend();
    const body = this.table.tBodies[0];
    body.replaceChildren();
    this.table.hidden = false;
    this.status.dataset.state = 'running';
    const {shape, kernelSize} = PROBLEMS[this.size.value];
    const values = inputValues(shape);
    let cpu: Float32Array | null = null;
    for (const backend of ALL_BACKENDS) {
      this.status.textContent = `Timing na2d on ${JSON.stringify(shape)}, kernel ${kernelSize}, on ${backend}...`;
      const row = body.insertRow();
      row.dataset.backend = backend;
      const t = await timeOn(backend, shape, kernelSize, values);
      if (t == null) {
        row.insertCell().textContent = backend;
        const cell = row.insertCell();
        cell.colSpan = 3;
        cell.textContent = 'not available in this browser';
        continue;
      }
      cpu ??= backend === 'cpu' ? t.output : null;
      const diff = cpu == null ? NaN : maxAbsDiff(t.output, cpu);
      row.dataset.medianMs = String(t.medianMs);
      row.dataset.maxDiff = String(diff);
      row.insertCell().textContent = `${backend} (${t.path})`;
      row.insertCell().textContent = String(t.runs);
      row.insertCell().textContent = `${t.medianMs.toFixed(1)} ms`;
      row.insertCell().textContent = backend === 'cpu' ? '(reference)' : diff.toExponential(2);
    }
    if (previous != null) {
      await activate(previous);
    }
    this.status.textContent = 'Done. Times include reading the output back; the first run (compilation) is not ' +
        'counted.';
    this.status.dataset.state = 'done';
  }
}
