/**
 * Builds test/browser/app with esbuild and with Vite, as a user's project would (tfjs-natten resolved by
 * package name from node_modules), into OUT/esbuild and OUT/vite, and prints one JSON line:
 * `{esbuild: {warnings, ms}, vite: {warnings, ms}}`. A separate process because Vite 7 is ESM only (jest
 * loads CommonJS).
 *
 *   tsx test/browser/build_app.ts APP_DIR OUT
 */
import * as esbuild from 'esbuild';
import * as fs from 'fs';
import * as path from 'path';

interface Built {
  warnings: string[];
  ms: number;
}

async function withEsbuild(app: string, out: string): Promise<Built> {
  const t0 = Date.now();
  const result = await esbuild.build({
    entryPoints: [path.join(app, 'main.ts')], outdir: out, bundle: true, format: 'esm', platform: 'browser',
    minify: true, logLevel: 'silent', absWorkingDir: app,
  });
  fs.writeFileSync(path.join(out, 'index.html'), fs.readFileSync(path.join(app, 'index.html'), 'utf8')
                                                       .replace('./main.ts', './main.js'));
  return {warnings: await esbuild.formatMessages(result.warnings, {kind: 'warning'}), ms: Date.now() - t0};
}

async function withVite(app: string, out: string): Promise<Built> {
  const vite = await import('vite');
  const warnings: string[] = [];
  const logger = vite.createLogger('warn');
  const t0 = Date.now();
  await vite.build({
    root: app,
    configFile: false,
    logLevel: 'warn',
    customLogger: {
      ...logger,
      warn: (msg: string) => warnings.push(msg),
      warnOnce: (msg: string) => warnings.push(msg),
      error: (msg: string) => warnings.push(msg),
    },
    // tfjs itself is over Vite's 500 kB advice for one chunk; any other warning fails the test.
    build: {outDir: out, emptyOutDir: true, chunkSizeWarningLimit: 4096},
  });
  return {warnings, ms: Date.now() - t0};
}

async function main(): Promise<void> {
  const [app, out] = process.argv.slice(2);
  const result = {
    esbuild: await withEsbuild(app, path.join(out, 'esbuild')),
    vite: await withVite(app, path.join(out, 'vite')),
  };
  console.log(JSON.stringify(result));
}

main().catch((e: Error) => {
  console.error(e.stack ?? e.message);
  process.exitCode = 1;
});
