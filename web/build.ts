/**
 * Browser builds of tfjs-natten, the way tfjs's own packages ship them:
 *  - `dist/esm` (tsc; `npm run build`) is what bundlers (esbuild, Vite, webpack) read through `module`/`exports`;
 *  - `dist/umd/tfjs-natten.js` and `.min.js` (this file) are UMD bundles for a `<script>` tag after `tf.min.js`:
 *    tfjs's packages stay outside the bundle and come from the global `tf` (or from `require`/AMD `define`),
 *    and tfjs-natten's exports land on the global `natten`.
 *
 *   tsx web/build.ts [outDir]        (default dist/umd; `npm run build` runs it)
 */
import * as esbuild from 'esbuild';
import * as fs from 'fs';
import * as path from 'path';

export const ROOT = path.resolve(__dirname, '..');

/** The global the UMD bundle defines in a page. */
export const UMD_GLOBAL = 'natten';

/**
 * tfjs packages the bundle may take from outside. In a page each is the global `tf`: `tf.min.js` carries core,
 * layers and the cpu backend; `tf-backend-webgpu.min.js` adds the webgpu backend's exports to the same `tf`
 * object. Only those the bundle imports at run time reach the wrapper (today core and layers: the webgpu
 * kernels use the webgpu backend's types only).
 */
export const TFJS_EXTERNALS = [
  '@tensorflow/tfjs-core',
  '@tensorflow/tfjs-layers',
  '@tensorflow/tfjs-backend-cpu',
  '@tensorflow/tfjs-backend-webgpu',
] as const;

const TFJS = /^@tensorflow\//;

/** Fails the build on a tfjs import that is not one of `allowed` (a deep import would not map to a global). */
function onlyTheseTfjsImports(allowed: readonly string[]): esbuild.Plugin {
  return {
    name: 'tfjs-externals',
    setup(build) {
      build.onResolve({filter: TFJS}, args => {
        if (!allowed.includes(args.path)) {
          return {errors: [{text: `${args.path} (imported by ${args.importer}) is not one of the externals ${
              allowed.join(', ')}: import from a package's entry point`}]};
        }
        return {path: args.path, external: true};
      });
    },
  };
}

/**
 * An esbuild plugin for code that runs in a page next to the UMD bundles (the browser tests' page): imports
 * of tfjs (`@tensorflow/tfjs`, `-core`, `-layers`) read the page's global `tf`, and imports of tfjs-natten
 * (`tfjs-natten`, or this repository's `src/index`) read the global `natten`, so that code exercises the
 * UMD bundle. Any other import reaching into `src/` fails the build: it would be a second copy of the package.
 */
export function pageGlobals(): esbuild.Plugin {
  const src = path.join(ROOT, 'src');
  const entry = [path.join(src, 'index'), path.join(src, 'index.ts')];
  const toGlobal = (name: string) => ({path: name, namespace: 'page-global'});
  return {
    name: 'page-globals',
    setup(build) {
      build.onResolve({filter: /^@tensorflow\/tfjs(-core|-layers)?$/}, () => toGlobal('tf'));
      build.onResolve({filter: /^tfjs-natten$/}, () => toGlobal(UMD_GLOBAL));
      build.onResolve({filter: /^\./}, args => {
        const target = path.resolve(args.resolveDir, args.path);
        if (entry.includes(target)) {
          return toGlobal(UMD_GLOBAL);
        }
        if (target.startsWith(src + path.sep)) {
          return {errors: [{text: `${args.importer} imports ${args.path}: page code may use only tfjs-natten's ` +
                                  'public entry (the UMD bundle)'}]};
        }
        return undefined;
      });
      build.onLoad({filter: /.*/, namespace: 'page-global'}, args => ({
        contents: `module.exports = globalThis[${JSON.stringify(args.path)}];`,
        loader: 'js',
      }));
    },
  };
}

/** Bundles page code (an IIFE) with `pageGlobals`; returns esbuild's warnings. */
export async function buildPageScript(entry: string, outfile: string): Promise<string[]> {
  const result = await esbuild.build({
    entryPoints: [entry], outfile, bundle: true, format: 'iife', platform: 'browser', target: 'es2020',
    sourcemap: 'inline', logLevel: 'silent', plugins: [pageGlobals()],
  });
  return esbuild.formatMessages(result.warnings, {kind: 'warning'});
}

/**
 * The UMD wrapper around esbuild's CommonJS output: CommonJS gets the real `require`, AMD `define` gets the
 * dependency list, and a page gets the globals. The bundle's own `require` calls (of the externals) go to
 * the factory's arguments; Node-only code in the package checks for Node before reaching `require`.
 */
function umdWrap(cjs: string, externals: string[]): string {
  const deps = JSON.stringify(externals);
  const requires = externals.map(d => `require(${JSON.stringify(d)})`).join(', ');
  const globals = externals.map(() => 'global.tf').join(', ');
  return `(function (global, factory) {
  typeof exports === 'object' && typeof module !== 'undefined' ? factory(exports, ${requires}) :
  typeof define === 'function' && define.amd ? define(['exports'].concat(${deps}), factory) :
  (global = typeof globalThis !== 'undefined' ? globalThis : global || self,
   factory(global.${UMD_GLOBAL} = {}, ${globals}));
})(this, function (exports) {
  'use strict';
  var deps = ${deps}, args = arguments;
  var require = function (name) {
    var i = deps.indexOf(name);
    if (i < 0 || args[i + 1] == null) {
      throw new Error('tfjs-natten: ' + name + ' is missing; load tf.min.js before tfjs-natten');
    }
    return args[i + 1];
  };
  var module = {exports: {}};
${cjs}
  var api = module.exports;
  Object.keys(api).forEach(function (key) {
    Object.defineProperty(exports, key, {enumerable: true, get: function () { return api[key]; }});
  });
});
`;
}

export interface UmdBuild {
  /** Paths of the unminified and minified bundles. */
  plain: string;
  minified: string;
  /** The tfjs packages the bundle takes from outside (each the global `tf` in a page). */
  externals: string[];
  /** Warnings esbuild printed (the tests require none). */
  warnings: string[];
}

/** Builds `tfjs-natten.js` and `tfjs-natten.min.js` (+ source map) into `outDir`. */
export async function buildUmd(outDir = path.join(ROOT, 'dist', 'umd')): Promise<UmdBuild> {
  const result = await esbuild.build({
    entryPoints: [path.join(ROOT, 'src', 'index.ts')],
    bundle: true,
    write: false,
    format: 'cjs',
    platform: 'browser',
    target: 'es2020',
    logLevel: 'silent',
    metafile: true,
    plugins: [onlyTheseTfjsImports(TFJS_EXTERNALS)],
  });
  // The wrapper asks only for the externals the bundle really imports (type-only imports are erased).
  const imported = new Set(Object.values(result.metafile.inputs).flatMap(
      input => input.imports.filter(i => i.external).map(i => i.path)));
  const externals = TFJS_EXTERNALS.filter(e => imported.has(e));
  const warnings = (await esbuild.formatMessages(result.warnings, {kind: 'warning'}));
  const plain = umdWrap(result.outputFiles[0].text, externals);
  const min = await esbuild.transform(plain, {
    minify: true, target: 'es2020', sourcemap: 'external', sourcefile: 'tfjs-natten.js', logLevel: 'silent',
  });
  warnings.push(...await esbuild.formatMessages(min.warnings, {kind: 'warning'}));
  fs.mkdirSync(outDir, {recursive: true});
  const files = {
    plain: path.join(outDir, 'tfjs-natten.js'),
    minified: path.join(outDir, 'tfjs-natten.min.js'),
  };
  fs.writeFileSync(files.plain, plain);
  fs.writeFileSync(files.minified, `${min.code}//# sourceMappingURL=tfjs-natten.min.js.map\n`);
  fs.writeFileSync(`${files.minified}.map`, min.map);
  return {...files, externals, warnings};
}

if (require.main === module) {
  buildUmd(process.argv[2]).then(({plain, minified, warnings}) => {
    for (const w of warnings) {
      console.warn(w);
    }
    const kib = (f: string) => `${(fs.statSync(f).size / 1024).toFixed(1)} KiB`;
    console.log(`UMD bundles (global \`${UMD_GLOBAL}\`): ${path.relative(ROOT, plain)} ${kib(plain)}, ${
        path.relative(ROOT, minified)} ${kib(minified)}`);
    if (warnings.length > 0) {
      process.exitCode = 1;
    }
  }).catch((e: Error) => {
    console.error(e.message);
    process.exitCode = 1;
  });
}
