/**
 * tfjs-natten in a real browser: Debian's Chromium (headless, driven by playwright-core) loads a page
 * served from 127.0.0.1 with tfjs's UMD bundles and tfjs-natten's UMD bundle (built fresh from src by
 * web/build.ts), and runs suite_page.ts on each backend: `cpu` (tfjs-natten's kernels), `wasm`, `webgl` and
 * `webgpu` (Chromium's own WebGPU on its software adapter here). Each gets the NATTEN golden cases forward
 * and backward, a layer model trained by `fit` and saved to IndexedDB and loaded back, and a leak check;
 * nothing may be printed as a warning or error on the console, and no request may fail.
 */
import * as tf from '@tensorflow/tfjs';
import {execFileSync} from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {buildPageScript, buildUmd, ROOT, UmdBuild} from '../../web/build';
import {Browser, launchChromium} from '../../web/chromium';
import {serveStatic, StaticServer, tfjsVendorMounts} from '../../web/server';
import {na1d} from '../../src/index';
import type {Goldens} from '../golden_cases';
import {maxAbsDiff} from '../util';
import {goldenCheck, LAYER_CHECKS} from './checks';
import type {SuiteReport} from './suite_page';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const goldens: Goldens = require('../fixtures/natten-goldens-public.json');

const BACKENDS = ['cpu', 'wasm', 'webgl', 'webgpu'];

let tmp: string;
let umd: UmdBuild;
let pageWarnings: string[];
let server: StaticServer;
let browser: Browser;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'natten-browser-'));
  umd = await buildUmd(path.join(tmp, 'umd'));
  pageWarnings = await buildPageScript(path.join(__dirname, 'suite_page.ts'), path.join(tmp, 'build', 'suite_page.js'));
  server = await serveStatic({
    '/': __dirname,
    '/umd/': path.join(tmp, 'umd'),
    '/build/': path.join(tmp, 'build'),
    ...tfjsVendorMounts(),
  });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  fs.rmSync(tmp, {recursive: true, force: true});
});

test('the UMD bundle and the test page build without warnings', () => {
  expect(umd.warnings).toEqual([]);
  expect(pageWarnings).toEqual([]);
  expect(umd.externals).toContain('@tensorflow/tfjs-core');
  // tfjs stays outside: tfjs-core alone is over 400 KB minified, our own code about 150 KB (2026-11-30).
  expect(fs.statSync(umd.minified).size).toBeLessThan(200 * 1024);
});

describe('the UMD bundle under the other module systems', () => {
  const values = Array.from({length: 2 * 7 * 2 * 3}, (_, i) => Math.sin(i));
  const shape = [2, 7, 2, 3];
  const options = {kernelSize: 3, dilation: 2};
  const want = async () => {
    await tf.setBackend('cpu');
    return tf.tidy(() => Array.from((na1d(tf.tensor(values, shape), tf.tensor(values, shape), tf.tensor(values, shape),
                                          options) as tf.Tensor).dataSync()));
  };

  test('CommonJS (require in Node): the exports compute what the package computes', async () => {
    const script = `const tf = require('@tensorflow/tfjs'); const natten = require(${JSON.stringify(umd.minified)});
      tf.setBackend('cpu'); const t = tf.tensor(${JSON.stringify(values)}, ${JSON.stringify(shape)});
      console.log(JSON.stringify(Array.from(natten.na1d(t, t, t, ${JSON.stringify(options)}).dataSync())));`;
    // The bundle was built into a temporary folder: tfjs comes from this repository's node_modules.
    const out = execFileSync(process.execPath, ['-e', script],
                             {cwd: ROOT, encoding: 'utf8', env: {...process.env, NODE_PATH: path.join(ROOT, 'node_modules')}});
    expect(maxAbsDiff(JSON.parse(out), await want())).toBeLessThan(1e-6);
  });

  test('AMD (define): it asks for tfjs-core and tfjs-layers and its exports compute the same', async () => {
    const page = await browser.newPage();
    await page.goto(`${server.url}amd.html`);
    const got = await page.evaluate(async ([v, s, o]) => {
      const amd = (window as unknown as {amdModule: {deps: string[], exports: {na1d: Function}}}).amdModule;
      const tfg = (window as unknown as {tf: typeof tf}).tf;
      await tfg.setBackend('cpu');  // webgl's dataSync would make Chrome warn of a ReadPixels stall
      const t = tfg.tensor(v, s);
      return {deps: amd.deps, out: Array.from(await (amd.exports.na1d(t, t, t, o) as tf.Tensor).data())};
    }, [values, shape, options] as const);
    await page.close();
    expect(got.deps).toEqual(['exports', '@tensorflow/tfjs-core', '@tensorflow/tfjs-layers']);
    expect(maxAbsDiff(got.out, await want())).toBeLessThan(1e-6);
  });
});

for (const backend of BACKENDS) {
  describe(`in Chromium [${backend}]`, () => {
    let report: SuiteReport;

    beforeAll(async () => {
      const page = await browser.newPage();
      await page.goto(`${server.url}suite.html`);
      report = await page.evaluate(
          ([b, g]) => (window as unknown as {nattenSuite: {run(b: string, g: Goldens, w: string): Promise<SuiteReport>}})
                          .nattenSuite.run(b, g, '/vendor/tfjs-backend-wasm/'),
          [backend, goldens] as const);
      await page.close();
      console.log(`Chromium [${backend}]: active ${report.active}, ${
          report.naKernels ? "tfjs-natten's kernels" : 'composed fallback'}${
          report.adapter ? `, adapter ${report.adapter}` : ''}${report.cpuPath ? `, cpu path ${report.cpuPath}` : ''}; ${
          report.checks.map(c => `${c.ok ? 'ok' : 'FAIL'} ${c.ms.toFixed(0)} ms`).join(', ')}`);
    });

    test(`tf.setBackend('${backend}') activates it`, () => expect(report.active).toBe(backend));

    const expectPassed = (name: string) => {
      const c = report.checks.find(x => x.name === name);
      if (c == null) {
        throw new Error(`the page did not run "${name}"`);
      }
      if (!c.ok) {
        throw new Error(c.error);
      }
    };
    for (const c of goldens.cases) {
      test(goldenCheck(c), () => expectPassed(goldenCheck(c)));
    }
    test(LAYER_CHECKS.fit, () => expectPassed(LAYER_CHECKS.fit));
    test(LAYER_CHECKS.indexedDB, () => expectPassed(LAYER_CHECKS.indexedDB));
    test('no tensor or backend data id leaked', () => {
      expect(report.leaked).toBe(0);
      expect(report.leakedDataIds).toBe(0);
    });
    if (backend === 'cpu') {
      test("tfjs-natten's kernels run, the fused ones as WebAssembly SIMD (Chromium compiles them synchronously)",
           () => {
             expect(report.naKernels).toBe(true);
             expect(report.cpuPath).toBe('wasm');
           });
    }
    if (backend === 'webgpu') {
      test('Chromium gives a WebGPU adapter', () => expect(report.adapter).toMatch(/vendor=\S+/));
    }
  });
}

test('nothing was printed as a warning or error, no page error, no failed or missing request', () => {
  expect(browser.problems()).toEqual([]);
  expect(server.notFound).toEqual([]);
});
