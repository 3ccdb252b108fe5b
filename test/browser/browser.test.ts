/**
 * tfjs-natten in a real browser: Debian's Chromium (headless, driven by playwright-core) loads a page
 * served from 127.0.0.1 with tfjs's UMD bundles and tfjs-natten's UMD bundle (built fresh from src by
 * web/build.ts), and runs suite_page.ts on each backend: `cpu` (tfjs-natten's kernels), `wasm`, `webgl` and
 * `webgpu` (Chromium's own WebGPU on its software adapter here). Each gets the NATTEN golden cases forward
 * and backward, a layer model trained by `fit` and saved to IndexedDB and loaded back, and a leak check;
 * nothing may be printed as a warning or error on the console, and no request may fail.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {buildPageScript, buildUmd, ROOT, UmdBuild} from '../../web/build';
import {Browser, launchChromium} from '../../web/chromium';
import {serveStatic, StaticServer, tfjsVendorMounts} from '../../web/server';
import type {Goldens} from '../golden_cases';
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
