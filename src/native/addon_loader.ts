/**
 * Finds and loads tfjs-natten's optional native addons (`.node` files) the way prebuildify packages ship
 * them: `prebuilds/<platform>-<arch>/<name>.node` inside the package (what the published package carries),
 * else `build/Release/<name>.node` (built from source with node-gyp). Loading never throws: the result says
 * why an addon is unavailable, so callers can fall back and report the reason.
 *
 * Node's `module` is reached through `process.getBuiltinModule` (ES modules, Node >= 20.16) or `require`,
 * so importing this file in a browser bundle is harmless: there every load reports "not running in Node.js".
 */

export interface AddonLoad<T> {
  /** The addon's exports, or null when it could not be loaded. */
  addon: T | null;
  /** The file that was loaded, or null. */
  path: string | null;
  /** Why the addon is unavailable (null when it loaded). */
  reason: string | null;
}

type NodeModule = typeof import('module');
type NodePath = typeof import('path');
type NodeFs = typeof import('fs');

const PACKAGE_NAME = 'tfjs-natten';

function nodeBuiltin<T>(name: string): T | null {
  const proc = typeof process === 'undefined' ? undefined : process;
  if (proc?.versions?.node == null) {
    return null;
  }
  const getBuiltin = (proc as unknown as {getBuiltinModule?: (id: string) => unknown}).getBuiltinModule;
  if (typeof getBuiltin === 'function') {
    return getBuiltin(name) as T;
  }
  return typeof require === 'function' ? require(name) as T : null;
}

/** The folder holding tfjs-natten's package.json: above this file, else as resolved from the working directory. */
function packageRoot(fs: NodeFs, path: NodePath, mod: NodeModule): string | null {
  const isOurs = (dir: string) => {
    try {
      return JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).name === PACKAGE_NAME;
    } catch {
      return false;
    }
  };
  if (typeof __dirname === 'string') {
    for (let dir = __dirname; ; dir = path.dirname(dir)) {
      if (isOurs(dir)) {
        return dir;
      }
      if (path.dirname(dir) === dir) {
        break;
      }
    }
  }
  try {
    const req = mod.createRequire(path.join(process.cwd(), 'noop.js'));
    return path.dirname(req.resolve(`${PACKAGE_NAME}/package.json`));
  } catch {
    return null;
  }
}

/** The paths where addon `name` may be, in the order they are tried. */
export function addonCandidates(name: string): string[] {
  const path = nodeBuiltin<NodePath>('path'), fs = nodeBuiltin<NodeFs>('fs'), mod = nodeBuiltin<NodeModule>('module');
  if (path == null || fs == null || mod == null) {
    return [];
  }
  const root = packageRoot(fs, path, mod);
  if (root == null) {
    return [];
  }
  return [
    path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, `${name}.node`),
    path.join(root, 'build', 'Release', `${name}.node`),
  ];
}

const cache = new Map<string, AddonLoad<unknown>>();

/**
 * Loads addon `name` once (later calls return the same result). `disabledBy`: an environment variable that,
 * when set to a value other than '' / '0' / 'false', keeps the addon unloaded. `pathFrom`: an environment
 * variable that, when set, names the file to load instead of looking in the package (a test build, a copy
 * carried elsewhere).
 */
export function loadAddon<T>(name: string, disabledBy?: string, pathFrom?: string): AddonLoad<T> {
  const override = pathFrom == null ? undefined : process.env[pathFrom];
  const key = override ? `${name}@${override}` : name;
  const cached = cache.get(key);
  if (cached != null) {
    return cached as AddonLoad<T>;
  }
  const result = tryLoad<T>(name, disabledBy, override ? {variable: pathFrom!, path: override} : undefined);
  cache.set(key, result);
  return result;
}

function tryLoad<T>(name: string, disabledBy?: string, override?: {variable: string, path: string}): AddonLoad<T> {
  const fail = (reason: string): AddonLoad<T> => ({addon: null, path: null, reason});
  const mod = nodeBuiltin<NodeModule>('module'), fs = nodeBuiltin<NodeFs>('fs'), path = nodeBuiltin<NodePath>('path');
  if (mod == null || fs == null || path == null) {
    return fail('not running in Node.js');
  }
  const flag = disabledBy == null ? undefined : process.env[disabledBy];
  if (flag != null && !['', '0', 'false'].includes(flag.toLowerCase())) {
    return fail(`disabled by the environment variable ${disabledBy}=${flag}`);
  }
  if (override != null) {
    if (!fs.existsSync(override.path)) {
      return fail(`${override.path} (from ${override.variable}) does not exist`);
    }
    return load(mod, override.path, fail);
  }
  const candidates = addonCandidates(name);
  if (candidates.length === 0) {
    return fail(`could not find the ${PACKAGE_NAME} package folder to look for ${name}.node in`);
  }
  const found = candidates.find(p => fs.existsSync(p));
  if (found == null) {
    return fail(`no ${name}.node for ${process.platform}-${process.arch} (looked in ${candidates.join(', ')})`);
  }
  return load(mod, found, fail);
}

function load<T>(mod: NodeModule, file: string, fail: (reason: string) => AddonLoad<T>): AddonLoad<T> {
  try {
    const req = mod.createRequire(file);
    return {addon: req(file) as T, path: file, reason: null};
  } catch (e) {
    return fail(`${file} failed to load: ${e instanceof Error ? e.message : String(e)}`);
  }
}
