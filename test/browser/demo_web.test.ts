/**
 * The demo page (`npm run demo:web`) in Chromium, clicked through: the neighborhood grid against the
 * spec's reference windows (test/reference.ts) on awkward configurations, a short training run, and the
 * timing table on every backend; nothing printed as a warning or error. Screenshots go to test-out/browser/.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type {Page} from 'playwright-core';
import {canvasInk, clickQuery, openDemo, setAxes, timeBackends, train} from '../../demo/web/drive';
import type {AxisConfig} from '../../demo/web/neighborhood';
import {startDemo} from '../../demo/web/serve';
import {ROOT} from '../../web/build';
import {Browser, launchChromium} from '../../web/chromium';
import type {StaticServer} from '../../web/server';
import {specWindow} from '../reference';

const SHOTS = path.join(ROOT, 'test-out', 'browser');

let tmp: string;
let server: StaticServer;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'natten-demo-web-'));
  fs.mkdirSync(SHOTS, {recursive: true});
  server = await startDemo(tmp, 0);
  browser = await launchChromium();
  page = await browser.newPage();
  await openDemo(page, server.url);
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  fs.rmSync(tmp, {recursive: true, force: true});
});

const axis = (length: number, kernel: number, dilation = 1, stride = 1, causal = false): AxisConfig =>
  ({length, kernel, dilation, stride, causal});

/** The spec's answer for one axis: the key coordinates of query i, and the queries of its stride group. */
function specAxis(i: number, a: AxisConfig) {
  const w = specWindow(i, a.length, a.kernel, a.stride, a.dilation, a.causal);
  const keys: number[] = [], masked: number[] = [], group: number[] = [];
  for (let t = 0; t < a.kernel; t++) {
    const j = (w.start + t) * a.dilation + w.g;
    if (w.start + t < w.end) {
      keys.push(j);
    } else if (j < a.length) {
      masked.push(j);
    }
  }
  for (let j = 0; j < a.length; j++) {
    const v = specWindow(j, a.length, a.kernel, a.stride, a.dilation, a.causal);
    if (v.g === w.g && Math.floor(v.ih / a.stride) === Math.floor(w.ih / a.stride)) {
      group.push(j);
    }
  }
  return {keys, masked, group};
}

const cellsWith = (cells: Record<string, string[]>, cls: string) =>
  Object.keys(cells).filter(k => cells[k].includes(cls)).sort();
const product = (rows: number[], cols: number[]) => rows.flatMap(r => cols.map(c => `${r},${c}`)).sort();

describe('demo page: see the neighborhood', () => {
  const configs: Array<[string, [AxisConfig, AxisConfig]]> = [
    ['kernel 5 on 12x12 (windows shift inward at the borders)', [axis(12, 5), axis(12, 5)]],
    ['even kernel 4, dilation 3 on 13 rows (13 not divisible by 3), stride 2 on 9 columns',
     [axis(13, 4, 3), axis(9, 3, 1, 2)]],
    ['causal rows with stride 3, dilation 2 columns causal too', [axis(10, 4, 1, 3, true), axis(11, 3, 2, 1, true)]],
    ['kernel equal to the length', [axis(6, 6), axis(7, 7, 1, 3)]],
  ];
  for (const [title, axes] of configs) {
    test(`${title}: every query's keys, masked slots and stride group match the spec`, async () => {
      await setAxes(page, axes);
      const [rows, cols] = [axes[0].length, axes[1].length];
      const queries = [[0, 0], [0, cols - 1], [rows - 1, 0], [rows - 1, cols - 1], [rows >> 1, cols >> 1], [1, 2]];
      for (const [r, c] of queries) {
        const view = await clickQuery(page, r, c);
        const s0 = specAxis(r, axes[0]), s1 = specAxis(c, axes[1]);
        const where = `query (${r}, ${c})`;
        expect([where, cellsWith(view.cells, 'key')]).toEqual([where, product(s0.keys, s1.keys)]);
        expect([where, cellsWith(view.cells, 'group')]).toEqual([where, product(s0.group, s1.group)]);
        expect([where, cellsWith(view.cells, 'query')]).toEqual([where, [`${r},${c}`]]);
        // A slot is masked when it is past the window's end on either axis (and inside the grid).
        const masked = product([...s0.keys, ...s0.masked], [...s1.keys, ...s1.masked])
                           .filter(k => !product(s0.keys, s1.keys).includes(k));
        expect([where, cellsWith(view.cells, 'masked')]).toEqual([where, masked]);
        expect(view.keys).toBe(s0.keys.length * s1.keys.length);
        expect(view.slots).toBe(axes[0].kernel * axes[1].kernel);
        expect(view.stats).toContain(`window ${axes[0].kernel} x ${axes[1].kernel} = ${view.slots} slots`);
        expect(view.stats).toContain(`attends to ${view.keys} keys`);
      }
    });
  }

  test('dilation leaves gaps inside the window: the cells it skips are marked', async () => {
    await setAxes(page, [axis(12, 3, 3), axis(12, 3, 2)]);
    const view = await clickQuery(page, 4, 5);
    // Row 4 (group 1 of dilation 3): rows 1, 4, 7; column 5 (group 1 of dilation 2, in-group 2, window
    // centred on it): columns 3, 5, 7. A 7x5 span holding 3x3 keys.
    expect(cellsWith(view.cells, 'key')).toEqual(product([1, 4, 7], [3, 5, 7]));
    expect(cellsWith(view.cells, 'gap').length).toBe(7 * 5 - 9);
    await page.screenshot({path: path.join(SHOTS, 'demo-neighborhood.png'), fullPage: false});
  });

  test('a kernel larger than the length is refused with a message, as the ops refuse it', async () => {
    await setAxes(page, [axis(6, 4, 2), axis(6, 3)]);
    expect(await page.isVisible('#na-error')).toBe(true);
    expect(await page.textContent('#na-error')).toMatch(/rows: kernel 4 with dilation 2 needs .* length 6/);
    await setAxes(page, [axis(12, 5), axis(12, 5)]);
    expect(await page.isVisible('#na-error')).toBe(false);
  });
});

describe('demo page: train in the browser', () => {
  test('the page lists the backends and says what "auto" picks: a hardware GPU, else cpu', async () => {
    const note = await page.textContent('#backend-note') ?? '';
    const auto = await page.getAttribute('#backend-note', 'data-auto');
    console.log(`demo page: ${note}`);
    expect(note).toMatch(/^This browser: webgpu on .*; webgl on .*; wasm; cpu\. "auto" trains on \w+\.$/);
    // Here both GPU APIs run on SwiftShader (software): auto passes them over for cpu.
    const software = (api: string) => new RegExp(`${api} on [^;]*software adapter`).test(note);
    expect(auto).toBe(!software('webgpu') ? 'webgpu' : !software('webgl') ? 'webgl' : 'cpu');
  });

  test('a quick run on webgpu (tfjs-natten\'s kernels) shows progress, plots, accuracy and attention', async () => {
    const run = await train(page, {backend: 'webgpu', digits: 'quick', epochs: 1}, 600000);
    console.log(`demo page: ${run.status} ${run.result}`);
    expect(run.backend).toBe('webgpu');
    expect(run.status).toMatch(/^Done: backend webgpu, NA: tfjs-natten kernels; 8 steps in /);
    expect(run.progress).toBe(100);
    expect(run.result).toMatch(/^Held-out accuracy \d+\.\d% on 512 test digits, after 1 epoch on 256 digits/);
    expect(run.accuracy).toBeGreaterThanOrEqual(0);
    expect(run.accuracy).toBeLessThanOrEqual(1);
    expect(await canvasInk(page, '#loss-plot')).toBeGreaterThan(100);
    expect(await canvasInk(page, '#acc-plot')).toBeGreaterThan(100);
    expect(await page.isVisible('#attention-canvas')).toBe(true);
    expect(await canvasInk(page, '#attention-canvas')).toBeGreaterThan(10000);
    expect(await page.textContent('#attention-caption')).toMatch(/4 query tokens .* 6x6 grid; columns: 4 heads/);
    await page.screenshot({path: path.join(SHOTS, 'demo-training.png'), fullPage: true});
  });
});

describe('demo page: timing', () => {
  test('times na2d on cpu, wasm, webgl and webgpu; every output matches cpu', async () => {
    const rows = await timeBackends(page, 'small', 300000);
    console.log(`demo page timing (small problem, noisy shared machine): ${rows.map(r => r.text.replace(/\s+/g, ' '))
                                                                               .join(' | ')}`);
    expect(rows.map(r => r.backend)).toEqual(['cpu', 'wasm', 'webgl', 'webgpu']);
    for (const r of rows) {
      expect([r.backend, r.medianMs > 0]).toEqual([r.backend, true]);
      if (r.backend !== 'cpu') {
        expect([r.backend, r.maxDiff < 1e-4]).toEqual([r.backend, true]);
      }
    }
    expect(rows[0].text).toMatch(/WebAssembly SIMD/);
    await page.screenshot({path: path.join(SHOTS, 'demo-timing.png'), fullPage: true});
  });
});

test('the page printed no warning or error and every request succeeded', () => {
  expect(browser.problems()).toEqual([]);
  expect(server.notFound).toEqual([]);
});
