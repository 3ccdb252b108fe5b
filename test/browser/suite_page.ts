/**
 * The checks the browser tests run inside Chromium, on one tfjs backend per page: the NATTEN golden cases
 * forward and backward, a tf.layers model with an NA layer trained by `fit`, saved to IndexedDB and loaded
 * back, the CPU kernels' WebAssembly path, and no tensor left behind. The page loads `tf.min.js`, the
 * wasm and webgpu backends' UMD bundles and tfjs-natten's UMD bundle with script tags; this file is
 * bundled with `@tensorflow/tfjs` and tfjs-natten read from the page's globals `tf` and `natten`
 * (web/build.ts pageGlobals), so the checks exercise the UMD bundle.
 */
import * as tf from '@tensorflow/tfjs';
import {cpuKernelPath, kernelNames, neighborhoodAttention2d} from '../../src/index';
import {checkGoldenCase, Goldens} from '../golden_cases';
import {goldenCheck, LAYER_CHECKS} from './checks';
import {maxAbsDiff, randArray, rng} from '../util';

export interface CheckResult {
  name: string;
  ok: boolean;
  error?: string;
  ms: number;
}

export interface SuiteReport {
  /** The backend asked for and the one tfjs activated. */
  backend: string;
  active: string;
  /** Whether tfjs-natten's own kernels ran there, or the composed fallback. */
  naKernels: boolean;
  /** For webgpu: the adapter's vendor/architecture/description. */
  adapter?: string;
  /** For cpu: the fused kernels' implementation in this browser (cpuKernelPath). */
  cpuPath?: string;
  checks: CheckResult[];
  /** Tensors alive at the end minus at the start (after every check disposed what it made). */
  leaked: number;
  /** The same for the backend's data ids (buffers, textures). */
  leakedDataIds: number;
}

const seeded = (shape: number[], seed: number, amp = 1) =>
  tf.tensor(randArray(rng(seed), shape.reduce((a, b) => a * b, 1), amp), shape);

async function adapterDescription(): Promise<string> {
  const gpu = (navigator as unknown as {gpu?: {requestAdapter(): Promise<{info?: Record<string, string>} | null>}})
      .gpu;
  const adapter = await gpu?.requestAdapter();
  const info = adapter?.info ?? {};
  return ['vendor', 'architecture', 'device', 'description'].map(k => `${k}=${info[k] ?? ''}`).join(' ');
}

/** A small NA model (NA2D layer, pooling, dense) with seeded weights, compiled with Adam. */
function buildModel(): tf.LayersModel {
  const input = tf.input({shape: [6, 6, 8]});
  const na = neighborhoodAttention2d({numHeads: 2, kernelSize: 3, useRelPosBias: true, name: 'na'});
  const pooled = tf.layers.globalAveragePooling2d({}).apply(na.apply(input)) as tf.SymbolicTensor;
  const model = tf.model({inputs: input, outputs: tf.layers.dense({units: 1}).apply(pooled) as tf.SymbolicTensor});
  const weights = model.getWeights().map((w, i) => seeded(w.shape, 90 + i, 0.3));
  model.setWeights(weights);
  tf.dispose(weights);
  model.compile({optimizer: tf.train.adam(2e-2), loss: 'meanSquaredError'});
  return model;
}

/** The layer-model checks: fit lowers the loss; the model saves to IndexedDB and loads back the same. */
async function layerModelChecks(backend: string, check: (name: string, body: () => Promise<void>) => Promise<void>):
    Promise<void> {
  const x = seeded([8, 6, 6, 8], 51);
  // The target needs spatial mixing: channel 0 of the top-left corner against channel 1 of the centre.
  const y = tf.tidy(() => tf.sub(tf.sum(tf.slice(x, [0, 0, 0, 0], [8, 2, 2, 1]), [1, 2]),
                                 tf.sum(tf.slice(x, [0, 2, 2, 1], [8, 2, 2, 1]), [1, 2])));
  const model = buildModel();
  try {
    await check(LAYER_CHECKS.fit, async () => {
      const history = await model.fit(x, y, {epochs: 6, batchSize: 8, shuffle: false, verbose: 0});
      const losses = history.history.loss as number[];
      if (!(losses[losses.length - 1] < 0.9 * losses[0])) {
        throw new Error(`loss went from ${losses[0]} to ${losses[losses.length - 1]} in ${losses.length} steps`);
      }
    });
    await check(LAYER_CHECKS.indexedDB, async () => {
      const url = `indexeddb://tfjs-natten-browser-test-${backend}`;
      await model.save(url);
      const listed = await tf.io.listModels();
      if (listed[url] == null) {
        throw new Error(`${url} missing from tf.io.listModels(): ${Object.keys(listed).join(', ')}`);
      }
      const loaded = await tf.loadLayersModel(url);
      try {
        const names = loaded.layers.map(l => l.getClassName());
        if (!names.includes('NeighborhoodAttention2D')) {
          throw new Error(`the loaded model has no NeighborhoodAttention2D layer: ${names.join(', ')}`);
        }
        const a = model.getWeights(), b = loaded.getWeights();
        for (let i = 0; i < a.length; i++) {
          const d = maxAbsDiff(await b[i].data(), await a[i].data());
          if (d !== 0) {
            throw new Error(`weight ${i} (${model.weights[i].name}): loaded differs by ${d}`);
          }
        }
        const p = model.predict(x) as tf.Tensor, q = loaded.predict(x) as tf.Tensor;
        const d = maxAbsDiff(await q.data(), await p.data());
        tf.dispose([p, q]);
        if (!(d <= 1e-6)) {
          throw new Error(`the loaded model's predictions differ by ${d}`);
        }
      } finally {
        loaded.dispose();
        await tf.io.removeModel(url);
      }
    });
  } finally {
    model.optimizer.dispose();  // Adam's slots: model.dispose() leaves the optimizer alone
    model.dispose();
    tf.dispose([x, y]);
  }
}

/** Activates `backend` and runs every check on it. */
async function run(backend: string, goldens: Goldens, wasmPath: string): Promise<SuiteReport> {
  // IS_TEST: a kernel that leaks a data id throws. Not on wasm: there tfjs's Identity kernel copies, so
  // every tensor a customGrad saves for its gradient (a clone) counts as a leak of that op; the data-id
  // count over the whole run below still catches real leaks on every backend.
  tf.env().set('IS_TEST', backend !== 'wasm');
  if (backend === 'wasm') {
    (tf as unknown as {wasm: {setWasmPaths(p: string): void}}).wasm.setWasmPaths(wasmPath);
  }
  if (!(await tf.setBackend(backend))) {
    throw new Error(`tf.setBackend('${backend}') failed`);
  }
  await tf.ready();
  const report: SuiteReport = {
    backend, active: tf.getBackend(), naKernels: tf.getKernel(kernelNames.NattenNAForward, tf.getBackend()) != null,
    checks: [], leaked: 0, leakedDataIds: 0,
  };
  if (backend === 'webgpu') {
    report.adapter = await adapterDescription();
  }
  const start = tf.memory().numTensors, startIds = tf.engine().backend.numDataIds();
  const check = async (name: string, body: () => Promise<void>) => {
    const t0 = performance.now();
    try {
      await body();
      report.checks.push({name, ok: true, ms: performance.now() - t0});
    } catch (e) {
      report.checks.push({name, ok: false, error: (e as Error).stack ?? String(e), ms: performance.now() - t0});
    }
  };
  for (const c of goldens.cases) {
    await check(goldenCheck(c), () => checkGoldenCase(c));
  }
  await layerModelChecks(backend, check);
  if (backend === 'cpu') {
    report.cpuPath = cpuKernelPath(16);
  }
  report.leaked = tf.memory().numTensors - start;
  report.leakedDataIds = tf.engine().backend.numDataIds() - startIds;
  return report;
}

(window as unknown as {nattenSuite: unknown}).nattenSuite = {run};
