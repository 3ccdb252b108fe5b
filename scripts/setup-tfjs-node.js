// npm run setup:tfjs-node
//
// Makes the real `tensorflow` backend (@tensorflow/tfjs-node-gpu) usable in this clone without its install
// script, which would download libtensorflow: the package is installed into the project's own node_modules with
// `--no-save --ignore-scripts` (it is in no dependency list, so `npm install` / `npm ci` never build or download
// it), and its binding is built with node-gyp against the TensorFlow C library of the tensorflow-cpu wheel that
// pip serves. The wheel, the extracted headers and libraries, and the built binding are cached outside the clone
// (scripts/tfjs-node-env.js says where), so a second run, from this clone or a fresh one, takes seconds.
//
// An `npm ci` or `npm install` removes the package again; the tests then fail, saying to rerun this.
const {spawnSync} = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const env = require('./tfjs-node-env');

const NAME = 'setup:tfjs-node';
const started = Date.now();

class SetupError extends Error {}

function fail(message) {
  throw new SetupError(message);
}

function log(message) {
  console.log(`${NAME}: ${message}`);
}

function seconds(since) {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}

/** Runs a command, its output captured; returns it, or null when the program itself is missing. */
function run(command, args, options = {}) {
  const r = spawnSync(command, args, {encoding: 'utf8', maxBuffer: 64 << 20, ...options});
  if (r.error && r.error.code === 'ENOENT') {
    return null;
  }
  return {status: r.error ? -1 : r.status, stdout: r.stdout || '',
          output: `${r.stdout || ''}${r.stderr || ''}${r.error ? r.error.message : ''}`};
}

function tail(output, lines = 25) {
  return output.trim().split('\n').slice(-lines).map(l => `    ${l}`).join('\n');
}

/** Moves a finished temporary folder or file into place; a copy that another run put there first wins. */
function commit(tmp, target) {
  fs.mkdirSync(path.dirname(target), {recursive: true});
  try {
    fs.renameSync(tmp, target);
  } catch (e) {
    if (!fs.existsSync(target)) {
      throw e;
    }
    fs.rmSync(tmp, {recursive: true, force: true});
  }
}

function tmpName(target) {
  return `${target}.tmp-${process.pid}`;
}

// -------------------------------------------------------------------------------------------------------------
// Tools, looked for only when a step needs them

let python = null;

function findPython() {
  if (python) {
    return python;
  }
  for (const candidate of [process.env.PYTHON, 'python3', 'python'].filter(Boolean)) {
    const r = run(candidate, ['-c', 'import sys; print(sys.version_info[0])']);
    if (r && r.status === 0 && r.output.trim() === '3') {
      python = candidate;
      return python;
    }
  }
  fail('python3 was not found. It runs pip (to download the tensorflow-cpu wheel), unpacks the wheel and runs ' +
       'node-gyp. Install Python 3 with pip (Debian: `apt-get install python3 python3-pip`) and run ' +
       `\`${env.SETUP_COMMAND}\` again.`);
}

function checkCompiler() {
  for (const [tool, args] of [[process.env.CXX || 'g++', ['--version']], ['make', ['--version']]]) {
    const r = run(tool, args);
    if (r == null || r.status !== 0) {
      fail(`${tool} was not found. The tfjs-node-gpu binding is C++ built by node-gyp with make and a C++ compiler. ` +
           `Install them (Debian: \`apt-get install g++ make\`) and run \`${env.SETUP_COMMAND}\` again.`);
    }
  }
}

/** node-gyp as npm ships it (npm sets npm_config_node_gyp for its scripts), else one resolvable from here. */
function findNodeGyp() {
  const candidates = [process.env.npm_config_node_gyp];
  if (process.env.npm_execpath) {
    candidates.push(path.join(path.dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin',
                              'node-gyp.js'));
  }
  candidates.push(path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules',
                            'node-gyp', 'bin', 'node-gyp.js'));
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed here
  }
  const found = candidates.find(c => c && fs.existsSync(c));
  if (found == null) {
    fail('node-gyp was not found (npm normally bundles it). Run this through npm (`' + env.SETUP_COMMAND +
         '`) or install node-gyp (`npm install -g node-gyp`).');
  }
  return found;
}

/** Node's headers on this machine (npm's nodedir setting, else beside the node binary); null: node-gyp downloads them. */
function findNodeHeaders() {
  const candidates = [process.env.npm_config_nodedir, path.resolve(path.dirname(process.execPath), '..')];
  return candidates.find(dir => dir && fs.existsSync(path.join(dir, 'include', 'node', 'node_api.h'))) || null;
}

// -------------------------------------------------------------------------------------------------------------
// Steps

/** The package in node_modules at the pinned version, with its dependencies, and one tfjs-core for everyone. */
function ensurePackage() {
  const dir = env.packageDir();
  if (!packageUsable(dir)) {
    const t = Date.now();
    log(`installing ${env.TFJS_NODE_PACKAGE}@${env.TFJS_NODE_VERSION} into node_modules (--no-save --ignore-scripts)`);
    const npm = process.env.npm_execpath ? [process.execPath, [process.env.npm_execpath]] : ['npm', []];
    const r = run(npm[0], [...npm[1], 'install', '--no-save', '--ignore-scripts', '--no-audit', '--no-fund',
                           `${env.TFJS_NODE_PACKAGE}@${env.TFJS_NODE_VERSION}`], {cwd: env.PROJECT_ROOT});
    if (r == null) {
      fail('npm was not found on PATH; run this as `' + env.SETUP_COMMAND + '`.');
    }
    if (r.status !== 0 || !packageUsable(dir)) {
      fail(`npm could not install ${env.TFJS_NODE_PACKAGE}@${env.TFJS_NODE_VERSION} (exit ${r.status}). Is the npm ` +
           `registry reachable (network, proxy, .npmrc)? npm said:\n${tail(r.output)}`);
    }
    log(`installed in ${seconds(t)}`);
  }
  checkOneTfjsCore(dir);
  return dir;
}

function packageUsable(dir) {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
    if (pkg.version !== env.TFJS_NODE_VERSION) {
      return false;
    }
    for (const dep of Object.keys(pkg.dependencies || {})) {
      require.resolve(`${dep}/package.json`, {paths: [dir]});
    }
    return true;
  } catch {
    return false;
  }
}

/** Two tfjs-core copies would split the kernel and backend registries: tfjs-node-gpu must load the project's own. */
function checkOneTfjsCore(dir) {
  const resolve = (name, from) => fs.realpathSync(require.resolve(`${name}/package.json`, {paths: [from]}));
  const tfjsFromPackage = path.dirname(resolve('@tensorflow/tfjs', dir));
  const ours = resolve('@tensorflow/tfjs-core', env.PROJECT_ROOT);
  const theirs = resolve('@tensorflow/tfjs-core', tfjsFromPackage);
  const copies = findPackageCopies(path.join(env.PROJECT_ROOT, 'node_modules'), '@tensorflow/tfjs-core');
  if (theirs !== ours || copies.length !== 1) {
    fail(`more than one @tensorflow/tfjs-core in node_modules (${copies.join(', ')}; the project resolves ${ours}, ` +
         `${env.TFJS_NODE_PACKAGE} resolves ${theirs}). Two copies split tfjs's kernel registry. Make the project's ` +
         `@tensorflow/tfjs ${require(path.join(tfjsFromPackage, 'package.json')).version} match the one ` +
         `${env.TFJS_NODE_PACKAGE}@${env.TFJS_NODE_VERSION} pins, then \`npm ci\` and \`${env.SETUP_COMMAND}\`.`);
  }
}

function findPackageCopies(nodeModules, name) {
  const found = [];
  const walk = dir => {
    if (fs.existsSync(path.join(dir, name, 'package.json'))) {
      found.push(path.join(dir, name));
    }
    for (const entry of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
      const sub = entry.startsWith('@') ? fs.readdirSync(path.join(dir, entry)).map(e => path.join(entry, e)) : [entry];
      for (const s of sub) {
        const nested = path.join(dir, s, 'node_modules');
        if (fs.existsSync(nested)) {
          walk(nested);
        }
      }
    }
  };
  walk(nodeModules);
  return found;
}

/** The tensorflow-cpu wheel in the cache, downloaded with pip when missing. */
function ensureWheel() {
  const dir = path.join(env.cacheDir(), 'wheels');
  const pattern = new RegExp(`^${env.TF_WHEEL.replace('-', '_')}-${env.TF_VERSION.replace(/\./g, '\\.')}-.*\\.whl$`);
  const cached = () => (fs.existsSync(dir) ? fs.readdirSync(dir) : []).filter(f => pattern.test(f));
  if (cached().length === 0) {
    const py = findPython();
    const pip = run(py, ['-m', 'pip', '--version']);
    if (pip == null || pip.status !== 0) {
      fail(`pip is not available (\`${py} -m pip --version\` failed). Install it (Debian: \`apt-get install ` +
           `python3-pip\`) and run \`${env.SETUP_COMMAND}\` again.`);
    }
    const t = Date.now();
    const tmp = tmpName(dir);
    fs.rmSync(tmp, {recursive: true, force: true});
    const spec = `${env.TF_WHEEL}==${env.TF_VERSION}`;
    log(`downloading the ${spec} wheel with pip (about 270 MB)`);
    const base = ['-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', '--disable-pip-version-check',
                  '-d', tmp, spec];
    // The libraries are the same in every Python build of the wheel: if none matches this Python, take 3.11's.
    let r = run(py, base);
    if (r.status !== 0) {
      r = run(py, [...base, '--python-version', '3.11', '--platform', 'manylinux_2_27_x86_64',
                   '--platform', 'manylinux2014_x86_64']);
    }
    const got = fs.existsSync(tmp) ? fs.readdirSync(tmp).filter(f => pattern.test(f)) : [];
    if (r.status !== 0 || got.length === 0) {
      fs.rmSync(tmp, {recursive: true, force: true});
      fail(`pip could not download ${spec} (exit ${r.status}). Is the package index reachable (network, proxy, ` +
           `pip config)? pip said:\n${tail(r.output)}`);
    }
    fs.mkdirSync(dir, {recursive: true});
    commit(path.join(tmp, got[0]), path.join(dir, got[0]));
    fs.rmSync(tmp, {recursive: true, force: true});
    log(`downloaded ${got[0]} in ${seconds(t)}`);
  }
  return path.join(dir, cached()[0]);
}

/** TensorFlow's headers and libraries, extracted from the wheel into the cache (tfjs-node-env.js tensorflowPaths). */
function ensureTensorflow() {
  const tf = env.tensorflowPaths();
  if (tf.ready) {
    return tf;
  }
  const wheel = ensureWheel();
  const py = findPython();
  const t = Date.now();
  log(`extracting TensorFlow's headers and libraries from ${path.basename(wheel)}`);
  const tmp = tmpName(tf.root);
  fs.rmSync(tmp, {recursive: true, force: true});
  const libs = Object.keys(env.TF_LIBRARIES);
  // Wheel members: tensorflow/include/** -> include/**, tensorflow/<lib> -> lib/<lib>.
  const extract = `
import os, shutil, sys, zipfile
wheel, out, libs = sys.argv[1], sys.argv[2], sys.argv[3:]
wanted = {'tensorflow/' + name: os.path.join('lib', name) for name in libs}
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        name = info.filename
        if name.startswith('tensorflow/include/') and not name.endswith('/'):
            target = os.path.join('include', name[len('tensorflow/include/'):])
        elif name in wanted:
            target = wanted.pop(name)
        else:
            continue
        target = os.path.join(out, target)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with z.open(info) as src, open(target, 'wb') as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
if wanted:
    sys.exit('missing from the wheel: ' + ', '.join(sorted(wanted)))
`;
  const r = run(py, ['-c', extract, wheel, tmp, ...libs]);
  if (r.status !== 0) {
    fs.rmSync(tmp, {recursive: true, force: true});
    fail(`could not extract TensorFlow from ${wheel} (a damaged download? delete it and run \`${env.SETUP_COMMAND}\` ` +
         `again):\n${tail(r.output)}`);
  }
  for (const [file, names] of Object.entries(env.TF_LIBRARIES)) {
    fs.chmodSync(path.join(tmp, 'lib', file), 0o755);
    for (const name of names.filter(n => n !== file)) {
      fs.symlinkSync(file, path.join(tmp, 'lib', name));
    }
  }
  fs.writeFileSync(path.join(tmp, '.complete'), `${path.basename(wheel)}\n`);
  commit(tmp, tf.root);
  log(`extracted into ${tf.root} in ${seconds(t)}`);
  return env.tensorflowPaths();
}

/** Where tfjs-node-gpu's JavaScript looks for its binding (node-pre-gyp's rule: the highest usable N-API version). */
function expectedBindingPath(dir) {
  const preGyp = require(require.resolve('@mapbox/node-pre-gyp', {paths: [dir]}));
  const target = preGyp.find(path.join(dir, 'package.json'));
  const napi = /napi-v(\d+)/.exec(target);
  if (napi == null) {
    fail(`unexpected binding path from node-pre-gyp: ${target}`);
  }
  return {target, napiVersion: Number(napi[1])};
}

/** Links the package's deps/ (what binding.gyp and the binding's rpath $ORIGIN/../../deps/lib name) to the cache. */
function linkDeps(dir, tf) {
  const deps = path.join(dir, 'deps');
  fs.rmSync(deps, {recursive: true, force: true});
  fs.mkdirSync(path.join(deps, 'lib'), {recursive: true});
  fs.symlinkSync(tf.include, path.join(deps, 'include'));
  for (const [file, names] of Object.entries(env.TF_LIBRARIES)) {
    for (const name of names) {
      fs.symlinkSync(path.join(tf.lib, file), path.join(deps, 'lib', name));
    }
  }
}

/** The binding, built once per (package, TensorFlow, N-API, platform) into the cache. */
function ensureBinding(dir, tf, napiVersion) {
  const cached = env.cachedBindingPath(napiVersion);
  if (fs.existsSync(cached)) {
    return cached;
  }
  checkCompiler();
  findPython();
  const nodeGyp = findNodeGyp();
  const headers = findNodeHeaders();
  const t = Date.now();
  const work = path.join(env.cacheDir(), `build-tmp-${process.pid}`);
  fs.rmSync(work, {recursive: true, force: true});
  fs.mkdirSync(work, {recursive: true});
  try {
    for (const item of ['binding', 'binding.gyp', 'package.json']) {
      fs.cpSync(path.join(dir, item), path.join(work, item), {recursive: true});
    }
    linkDeps(work, tf);
    log(`building the binding with node-gyp (N-API ${napiVersion}${headers ? `, Node headers from ${headers}` : ''})`);
    const args = [nodeGyp, 'rebuild', `--napi_build_version=${napiVersion}`, '--module_name=tfjs_binding',
                  `--module_path=lib/napi-v${napiVersion}`, `-j`, String(Math.max(1, os.cpus().length))];
    if (headers) {
      args.push(`--nodedir=${headers}`);
    }
    const r = run(process.execPath, args, {cwd: work, env: {...process.env, PYTHON: findPython()}});
    const built = path.join(work, 'build', 'Release', 'tfjs_binding.node');
    if (r.status !== 0 || !fs.existsSync(built)) {
      fail(`node-gyp could not build the binding (exit ${r.status})${headers ? '' : '; Node\'s headers were not ' +
           'found locally, so node-gyp tried to download them'}. node-gyp said:\n${tail(r.output)}`);
    }
    const tmp = tmpName(cached);
    fs.mkdirSync(path.dirname(cached), {recursive: true});
    fs.copyFileSync(built, tmp);
    commit(tmp, cached);
  } finally {
    fs.rmSync(work, {recursive: true, force: true});
  }
  log(`built ${cached} in ${seconds(t)}`);
  return cached;
}

/** Loads the package in a fresh Node process as the tests, the bench and the demo do, and runs one TensorFlow op. */
function verify() {
  const probe = `
const tf = require(${JSON.stringify(require.resolve('./tfjs-node-env'))}).loadTfjsNode();
const core = require('@tensorflow/tfjs-core');
const b = tf.backend();
const x = tf.tensor([1, 2, 3]);
const y = Array.from(tf.square(x).dataSync());
console.log(JSON.stringify({backend: tf.getBackend(), tensorflow: b.binding.TF_Version, oneCore: core.engine() === tf.engine(),
                            square: y}));
`;
  const r = run(process.execPath, ['-e', probe],
                {cwd: env.PROJECT_ROOT, env: {...process.env, TF_CPP_MIN_LOG_LEVEL: process.env.TF_CPP_MIN_LOG_LEVEL || '2'}});
  let result = null;
  try {
    result = JSON.parse(r.stdout.trim().split('\n').pop());
  } catch {
    // reported below
  }
  if (r.status !== 0 || result == null || result.backend !== 'tensorflow' || result.tensorflow !== env.TF_VERSION ||
      !result.oneCore || result.square.join() !== '1,4,9') {
    fail(`${env.TFJS_NODE_PACKAGE} does not work after the set-up (exit ${r.status}):\n${tail(r.output)}`);
  }
  return result;
}

function main() {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    fail(`this set-up builds against the linux x86_64 tensorflow-cpu wheel; on ${process.platform}-${process.arch} ` +
         `install ${env.TFJS_NODE_PACKAGE} (or @tensorflow/tfjs-node) the usual way, with its download.`);
  }
  log(`cache: ${env.cacheDir()}`);
  const dir = ensurePackage();
  const tf = ensureTensorflow();
  const {target, napiVersion} = expectedBindingPath(dir);
  const binding = ensureBinding(dir, tf, napiVersion);
  linkDeps(dir, tf);
  fs.mkdirSync(path.dirname(target), {recursive: true});
  fs.copyFileSync(binding, target);
  const result = verify();
  log(`ready in ${seconds(started)}: ${env.TFJS_NODE_PACKAGE}@${env.TFJS_NODE_VERSION} runs TensorFlow ${
      result.tensorflow} (${path.relative(env.PROJECT_ROOT, target)})`);
  log(`TensorFlow headers ${tf.include}, libraries ${tf.lib} (\`node scripts/tfjs-node-env.js\` prints them)`);
}

try {
  main();
} catch (e) {
  console.error(`${NAME}: FAILED: ${e instanceof SetupError ? e.message : e.stack}`);
  process.exit(1);
}
