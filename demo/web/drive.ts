/**
 * Drives the demo page (demo/web) in Chromium the way a person would: set the neighborhood controls and
 * click a query, train, time. The browser test (test/browser/demo_web.test.ts) and the screenshot script
 * (demo/web/screenshot.ts) both use it.
 */
import type {Page} from 'playwright-core';
import type {AxisConfig} from './neighborhood';

/** Opens the page and waits until its script has set everything up. */
export async function openDemo(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await page.waitForSelector('body[data-ready=true]');
  await page.waitForSelector('#backend-note[data-auto]');
}

/** Sets both axes' controls (rows, columns) as a person would type them. */
export async function setAxes(page: Page, axes: [AxisConfig, AxisConfig]): Promise<void> {
  for (const [n, a] of axes.entries()) {
    for (const key of ['length', 'kernel', 'dilation', 'stride'] as const) {
      await page.fill(`#na-controls input[name=${key}${n}]`, String(a[key]));
    }
    await page.setChecked(`#na-controls input[name=causal${n}]`, a.causal);
  }
}

export interface QueryView {
  /** The classes of every cell, by "row,col". */
  cells: Record<string, string[]>;
  stats: string;
  keys: number;
  slots: number;
}

/** Clicks the query token (row, col) and reads what the grid shows. */
export async function clickQuery(page: Page, row: number, col: number): Promise<QueryView> {
  await page.click(`#na-grid button[data-row="${row}"][data-col="${col}"]`);
  return page.evaluate(() => {
    const cells: Record<string, string[]> = {};
    document.querySelectorAll<HTMLElement>('#na-grid button.cell').forEach(c => {
      cells[`${c.dataset.row},${c.dataset.col}`] = Array.from(c.classList).filter(x => x !== 'cell');
    });
    const stats = document.getElementById('na-stats')!;
    return {cells, stats: stats.textContent ?? '', keys: Number(stats.dataset.keys), slots: Number(stats.dataset.slots)};
  });
}

export interface TrainingView {
  backend: string;
  status: string;
  result: string;
  accuracy: number;
  progress: number;
  backendNote: string;
  autoChoice: string;
}

/** Picks the training options, clicks Train and waits for the run to finish (or fail). */
export async function train(page: Page, options: {backend: string, digits: string, epochs: number},
                            timeoutMs: number): Promise<TrainingView> {
  await page.selectOption('#train-controls select[name=backend]', options.backend);
  await page.selectOption('#train-controls select[name=digits]', options.digits);
  await page.fill('#train-controls input[name=epochs]', String(options.epochs));
  await page.click('#train-button');
  await page.waitForSelector('#train-status[data-state=done], #train-status[data-state=failed]', {timeout: timeoutMs});
  // No named functions inside evaluate callbacks: tsx would wrap them in a helper the page lacks.
  return page.evaluate(() => {
    const status = document.getElementById('train-status')!;
    const note = document.getElementById('backend-note')!;
    const result = document.getElementById('train-result')!;
    return {
      backend: status.dataset.backend ?? '', status: status.textContent ?? '', result: result.textContent ?? '',
      accuracy: Number(result.dataset.accuracy),
      progress: Number(document.getElementById('train-progress')!.getAttribute('aria-valuenow')),
      backendNote: note.textContent ?? '', autoChoice: note.dataset.auto ?? '',
    };
  });
}

export interface TimingRow {
  backend: string;
  text: string;
  medianMs: number;
  maxDiff: number;
}

/** Picks the problem size, clicks the timing button and reads the table when done. */
export async function timeBackends(page: Page, size: string, timeoutMs: number): Promise<TimingRow[]> {
  await page.selectOption('#timing-controls select[name=size]', size);
  await page.click('#timing-button');
  await page.waitForSelector('#timing-status[data-state=done], #timing-status[data-state=failed]',
                             {timeout: timeoutMs});
  return page.evaluate(() => Array.from(document.querySelectorAll<HTMLTableRowElement>('#timing-table tbody tr')).map(r => ({
    backend: r.dataset.backend ?? '', text: r.innerText, medianMs: Number(r.dataset.medianMs),
    maxDiff: Number(r.dataset.maxDiff),
  })));
}

/** Counts the pixels of a canvas that differ from its first pixel (0: blank). */
export function canvasInk(page: Page, selector: string): Promise<number> {
  return page.evaluate(sel => {
    const canvas = document.querySelector(sel) as HTMLCanvasElement;
    const {data} = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
    let n = 0;
    for (let i = 0; i < data.length; i += 4) {
      n += data[i] !== data[0] || data[i + 1] !== data[1] || data[i + 2] !== data[2] || data[i + 3] !== data[3] ? 1 : 0;
    }
    return n;
  }, selector);
}
