/**
 * Takes the README's picture of the demo page: a dilated, strided neighborhood, a training run and the
 * timing table, in headless Chromium.
 *
 *   tsx demo/web/screenshot.ts [OUT.png] [--digits 1000|3000|all] [--epochs N]   (default docs/demo-web.png, 3000, 2)
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {ROOT} from '../../web/build';
import {launchChromium} from '../../web/chromium';
import {clickQuery, openDemo, setAxes, timeBackends, train} from './drive';
import {startDemo} from './serve';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const option = (name: string, fallback: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args.splice(i, 2)[1] : fallback;
  };
  const digits = option('--digits', '3000'), epochs = Number(option('--epochs', '2'));
  const out = path.resolve(args[0] ?? path.join(ROOT, 'docs', 'demo-web.png'));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'natten-screenshot-'));
  const server = await startDemo(tmp, 0);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await openDemo(page, server.url);
    await setAxes(page, [{length: 12, kernel: 5, dilation: 2, stride: 1, causal: false},
                         {length: 12, kernel: 4, dilation: 1, stride: 2, causal: false}]);
    console.log((await clickQuery(page, 1, 10)).stats);
    const run = await train(page, {backend: 'auto', digits, epochs}, 3600000);
    console.log(`${run.status}\n${run.result}`);
    const rows = await timeBackends(page, 'medium', 600000);
    console.log(rows.map(r => r.text.replace(/\s+/g, ' ')).join('\n'));
    fs.mkdirSync(path.dirname(out), {recursive: true});
    await page.screenshot({path: out, fullPage: true});
    console.log(`screenshot: ${out}`);
    const problems = browser.problems();
    if (problems.length > 0) {
      throw new Error(`the page printed warnings or errors: ${JSON.stringify(problems)}`);
    }
  } finally {
    await browser.close();
    await server.close();
    fs.rmSync(tmp, {recursive: true, force: true});
  }
}

main().catch((e: Error) => {
  console.error(e.stack ?? e.message);
  process.exitCode = 1;
});
