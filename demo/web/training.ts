/**
 * "Train in the browser": the demos' NA digit model (demo/model.ts) trained in the page on WebGPU (else
 * WebGL, else cpu), with a progress bar, live loss and accuracy plots, the held-out accuracy and the
 * attention picture of the trained model (demo/attention_picture.ts).
 */
import * as tf from '@tensorflow/tfjs';
import {attentionPicture} from '../attention_picture';
import type {RGBImage} from '../image';
import {accuracy, buildModel, CONFIG, DigitPixels, disposeDigits, splitDigits, SplitSizes, trainDigits} from '../model';
import {activate, autoChoice, BackendProbe, describeNAPath, probeBackends, runOnClick} from './backends';
import {LinePlot} from './plot';

/** The digits of the `mnist` package, served with the page (demo/web/serve.ts). */
async function loadDigitPixels(): Promise<DigitPixels> {
  return Promise.all(Array.from({length: 10}, async (_, d) => {
    const response = await fetch(`/digits/${d}.json`);
    if (!response.ok) {
      throw new Error(`/digits/${d}.json: HTTP ${response.status}`);
    }
    return ((await response.json()) as {data: number[]}).data;
  }));
}

function drawImage(canvas: HTMLCanvasElement, image: RGBImage): void {
  canvas.width = image.width;
  canvas.height = image.height;
  const data = new ImageData(image.width, image.height);
  for (let i = 0; i < image.width * image.height; i++) {
    data.data.set(image.pixels.subarray(3 * i, 3 * i + 3), 4 * i);
    data.data[4 * i + 3] = 255;
  }
  canvas.getContext('2d')!.putImageData(data, 0, 0);
}

const QUICK: SplitSizes = {train: 256, validation: 128, test: 512};

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

export class TrainingView {
  private pixels: Promise<DigitPixels> | null = null;
  private readonly form = byId<HTMLFormElement>('train-controls');
  private readonly button = byId<HTMLButtonElement>('train-button');
  private readonly status = byId('train-status');
  private readonly bar = byId('train-progress');
  private readonly result = byId('train-result');
  private readonly loss = new LinePlot(byId('loss-plot'), null);
  private readonly acc = new LinePlot(byId('acc-plot'), [0, 1]);
  private readonly probes: Promise<BackendProbe[]> = probeBackends();

  constructor() {
    this.probes.then(probes => {
      const note = byId('backend-note');
      note.textContent = `This browser: ${probes.map(p => `${p.name}${p.available ? '' : ' (unavailable)'}${
          p.device ? ` on ${p.device}` : ''}${p.software ? ' (a software adapter)' : ''}`).join('; ')}. ` +
          `"auto" trains on ${autoChoice(probes)}.`;
      note.dataset.auto = autoChoice(probes);
    });
    runOnClick(this.button, this.status, 'Training', () => this.train());
  }

  private field(name: string): string {
    return (this.form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement).value;
  }

  private setProgress(fraction: number): void {
    const percent = Math.round(100 * fraction);
    this.bar.style.width = `${percent}%`;
    this.bar.setAttribute('aria-valuenow', String(percent));
  }

  private async train(): Promise<void> {
    const choice = this.field('backend');
    const epochs = Math.max(1, Math.min(10, Math.round(Number(this.field('epochs'))) || 1));
    const digits = this.field('digits');
    // "quick": a run short enough for a software GPU adapter, held out and validated on fewer digits too.
    const sizes = digits === 'quick' ? QUICK : digits === 'all' ? {} : {train: Number(digits)};
    this.status.dataset.state = 'running';
    this.result.textContent = '';
    byId('attention').hidden = true;
    this.setProgress(0);

    let backend = choice === 'auto' ? autoChoice(await this.probes) : choice;
    if (!(await activate(backend))) {
      if (choice !== 'auto') {
        throw new Error(`the ${choice} backend does not work in this browser`);
      }
      backend = 'cpu';
      await activate(backend);
    }
    const where = `backend ${backend}, NA: ${describeNAPath(CONFIG.channels / CONFIG.numHeads)}`;
    this.status.textContent = `Loading the digits (${where})...`;
    this.pixels ??= loadDigitPixels();
    const data = splitDigits(await this.pixels, sizes);
    const model = buildModel();
    const batches = Math.ceil(data.train.labels.length / CONFIG.batchSize);
    const steps = epochs * batches;
    const lossSeries = {label: 'training loss', color: '#f28b30', points: [] as Array<[number, number]>};
    const accSeries = {label: 'training', color: '#3f66e0', points: [] as Array<[number, number]>};
    const valSeries = {label: 'validation', color: '#1a9a5a', points: [] as Array<[number, number]>, dots: true};
    this.loss.reset(steps, [lossSeries]);
    this.acc.reset(steps, [accSeries, valSeries]);
    const t0 = performance.now();
    const seconds = () => ((performance.now() - t0) / 1000).toFixed(1);
    const optimizer = await trainDigits(model, data, epochs, {
      onBatchEnd: (epoch, batch, _, logs) => {
        const step = epoch * batches + batch + 1;
        lossSeries.points.push([step, logs.loss]);
        accSeries.points.push([step, logs.acc]);
        this.loss.draw();
        this.acc.draw();
        this.setProgress(step / steps);
        this.status.textContent = `${where}; ${data.train.labels.length} training digits; epoch ${epoch + 1}/${
            epochs}, batch ${batch + 1}/${batches}: loss ${logs.loss.toFixed(4)}, accuracy ${
            logs.acc.toFixed(3)} (${seconds()} s)`;
      },
      onEpochEnd: (epoch, logs) => {
        valSeries.points.push([(epoch + 1) * batches, logs.val_acc]);
        this.acc.draw();
      },
    });
    const trainSeconds = seconds();
    const heldOut = await accuracy(model, data.test);
    const picture = await attentionPicture(model, data.test);
    drawImage(byId('attention-canvas'), picture.image);
    byId('attention-caption').textContent = `Attention of the first NA layer: ${picture.description}. Each panel ` +
        'tints the keys of the query (cyan) by their weight; the blue square is its window.';
    byId('attention').hidden = false;
    this.result.textContent = `Held-out accuracy ${(100 * heldOut).toFixed(1)}% on ${
        data.test.labels.length} test digits, after ${epochs} epoch${epochs > 1 ? 's' : ''} on ${
        data.train.labels.length} digits (${trainSeconds} s on ${backend}).`;
    this.result.dataset.accuracy = String(heldOut);
    this.status.textContent = `Done: ${where}; ${steps} steps in ${trainSeconds} s.`;
    this.status.dataset.state = 'done';
    this.status.dataset.backend = backend;
    optimizer.dispose();
    model.dispose();
    disposeDigits(data);
  }
}
