/**
 * The ESM build (dist/esm, `npm run build`) with bundlers, as a user's project uses it: test/browser/app
 * (tfjs, the webgpu backend and tfjs-natten imported by package name) is built with esbuild and with Vite
 * from a project folder whose node_modules links to this package, without a warning, then run in Chromium
 * on `cpu` and `webgpu`, matching Node.
 */
import * as tf from '@tensorflow/tfjs';
import {execFileSync} from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {na2d} from '../../src/index';
import {ROOT} from '../../web/build';
import {Browser, launchChromium} from '../../web/chromium';
import {serveStatic, StaticServer} from '../../web/server';
import {maxAbsDiff, randArray, rng} from '../util';
import type {AppResult} from './app/main';

const SHAPE = [1, 5, 8, 2, 4];
const VALUES = Array.from(randArray(rng(7), SHAPE.reduce((a, b) => a * b, 1)));

/** What the app computes, in Node (tfjs-natten's cpu kernels). */
async function expected(): Promise<{out: number[], dq: number[]}> {
  await tf.setBackend('cpu');
  const q = tf.tensor(VALUES, SHAPE);
  const options = {kernelSize: [3, 4], dilation: [1, 2], isCausal: [false, true]};
  const out = na2d(q, q, q, options) as tf.Tensor;
  const dq = tf.grad((x: tf.Tensor) => tf.sum(tf.square(na2d(x, q, x, options) as tf.Tensor)))(q);
  const result = {out: Array.from(out.dataSync()), dq: Array.from(dq.dataSync())};
  tf.dispose([q, out, dq]);
  return result;
}

let tmp: string;
let built: Record<'esbuild' | 'vite', {warnings: string[], ms: number}>;
let browser: Browser;

beforeAll(async () => {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'esm', 'index.js'))) {
    throw new Error('dist/esm is missing: run `npm run build` before the bundler tests');
  }
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'natten-bundlers-'));
  const app = path.join(tmp, 'app');
  fs.cpSync(path.join(__dirname, 'app'), app, {recursive: true});
  // The project's node_modules as `npm install tfjs-natten @tensorflow/tfjs` would leave it.
  fs.mkdirSync(path.join(app, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(app, 'node_modules', 'tfjs-natten'), 'dir');
  fs.symlinkSync(path.join(ROOT, 'node_modules', '@tensorflow'), path.join(app, 'node_modules', '@tensorflow'), 'dir');
  const out = execFileSync(process.execPath, [require.resolve('tsx/cli'), path.join(__dirname, 'build_app.ts'), app,
                                              path.join(tmp, 'out')],
                           {cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']});
  built = JSON.parse(out.trim().split('\n').pop()!);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  if (tmp != null) {
    fs.rmSync(tmp, {recursive: true, force: true});
  }
});

for (const bundler of ['esbuild', 'vite'] as const) {
  describe(`an app bundled by ${bundler}`, () => {
    let server: StaticServer;

    beforeAll(async () => {
      server = await serveStatic({'/': path.join(tmp, 'out', bundler)});
    });

    afterAll(() => server?.close());

    test('builds without a warning', () => {
      console.log(`${bundler} built the app in ${built[bundler].ms} ms`);
      expect(built[bundler].warnings).toEqual([]);
    });

    test('runs na2d and its gradient in Chromium on cpu and webgpu, matching Node', async () => {
      const page = await browser.newPage();
      await page.goto(server.url);
      const want = await expected();
      for (const backend of ['cpu', 'webgpu']) {
        const got: AppResult = await page.evaluate(
            ([b, v, s]) => (window as unknown as {nattenApp: {run(b: string, v: number[], s: number[]):
                                                                    Promise<AppResult>}}).nattenApp.run(b, v, s),
            [backend, VALUES, SHAPE] as const);
        expect(got.backend).toBe(backend);
        // The bundle must have kept tfjs-natten's kernel registrations (its `sideEffects` list).
        expect(got.naKernels).toBe(true);
        expect(maxAbsDiff(got.out, want.out)).toBeLessThan(1e-5);
        expect(maxAbsDiff(got.dq, want.dq)).toBeLessThan(1e-4);
      }
      await page.close();
      expect(browser.problems()).toEqual([]);
      expect(server.notFound).toEqual([]);
    });
  });
}
