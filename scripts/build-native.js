#!/usr/bin/env node
/**
 * npm run build:native [-- --prebuild] [-- --tf-gpu]
 *
 * Builds tfjs-natten's native CPU addons from source with node-gyp (binding.gyp, native/src/cpu):
 *  - natten_cpu: the native CPU kernels for the `cpu` backend in Node (always);
 *  - natten_tf: NA as TensorFlow ops for the `tensorflow` backend (tfjs-node / tfjs-node-gpu), when
 *    TensorFlow's C headers and libtensorflow_framework.so.2 are found: NATTEN_TF_DIR (a folder with
 *    include/tensorflow/c/kernels.h and lib/libtensorflow_framework.so.2), else the TensorFlow that
 *    `npm run setup:tfjs-node` extracted (scripts/tfjs-node-env.js), else the deps/ folder of an installed
 *    @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node (where their install put libtensorflow).
 *    --tf-gpu (or NATTEN_BUILD_TF_GPU=1) also compiles its GPU kernels (native/src/tf/README.md; off by
 *    default, never run here; NATTEN_CUDA_ARCHS picks the architectures, as for build:cuda).
 * --prebuild copies the built addons to prebuilds/<platform>-<arch>/, what the published package carries
 * (the loader tries prebuilds/ before build/Release/).
 *
 * Only these targets are built (`make <targets>` after `node-gyp configure`), not the rest of binding.gyp;
 * build:cuda (scripts/build-cuda.js) builds natten_cuda through the same configuration (`build('cuda')`).
 * `npm install` never runs this: the package's install script only reports (scripts/native-install.js).
 */
'use strict';
const {execFileSync} = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..');
const args = process.argv.slice(2);
const prebuild = args.includes('--prebuild');
const tfGpu = args.includes('--tf-gpu') || process.env.NATTEN_BUILD_TF_GPU === '1';

function say(message) {
  console.log(`build-native: ${message}`);
}

/** node-gyp: npm's own (npm run puts its path in npm_config_node_gyp), a local install, or the one on PATH. */
function nodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin',
              'node-gyp.js'),
  ];
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js', {paths: [root]}));
  } catch {
    // not installed locally
  }
  const found = candidates.find(p => p != null && fs.existsSync(p));
  return found != null ? [process.execPath, found] : ['node-gyp'];
}

/** Node's headers where this Node installation ships them (so node-gyp needs no download). */
function nodeDir() {
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  return fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? prefix : null;
}

/** TensorFlow's C headers and libtensorflow_framework.so.2, or null. */
function tensorflowDir() {
  const candidates = [];
  const dirs = (dir) => ({include: path.join(dir, 'include'), lib: path.join(dir, 'lib')});
  if (process.env.NATTEN_TF_DIR) {
    candidates.push(dirs(path.resolve(process.env.NATTEN_TF_DIR)));
  }
  try {
    const tf = require('./tfjs-node-env').tensorflowPaths();
    if (tf.ready) {
      candidates.push({include: tf.include, lib: tf.lib});
    }
  } catch {
    // no set-up script
  }
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    candidates.push(dirs(path.join(root, 'node_modules', pkg, 'deps')));
  }
  for (const {include, lib} of candidates) {
    if (fs.existsSync(path.join(include, 'tensorflow', 'c', 'kernels.h')) &&
        fs.existsSync(path.join(lib, 'libtensorflow_framework.so.2'))) {
      return {include, lib};
    }
  }
  return null;
}

function run(cmd, cmdArgs, options = {}) {
  execFileSync(cmd, cmdArgs, {stdio: 'inherit', cwd: root, ...options});
}

/**
 * Configures binding.gyp (with natten_tf defined when TensorFlow is found) and builds `targets` with make, so
 * that build:native and build:cuda share one configuration and never wipe each other's outputs.
 * `wanted` picks the targets: 'cpu' (natten_cpu, and natten_tf when TensorFlow is found) or 'cuda' (natten_cuda).
 */
function build(wanted) {
  const gyp = nodeGyp();
  const configure = [...gyp.slice(1), 'configure'];
  const dir = nodeDir();
  if (dir != null) {
    configure.push(`--nodedir=${dir}`);
  }
  const targets = wanted === 'cuda' ? ['natten_cuda'] : ['natten_cpu'];
  const defines = [];
  const tf = process.platform === 'linux' ? tensorflowDir() : null;
  if (tf != null) {
    defines.push(`-Dnatten_tf_include=${tf.include}`, `-Dnatten_tf_lib=${tf.lib}`);
    if (tfGpu) {
      defines.push('-Dnatten_tf_gpu=1');
    }
    if (wanted !== 'cuda') {
      targets.push('natten_tf');
      say(`TensorFlow headers from ${tf.include} and libtensorflow_framework.so.2 from ${tf.lib}: building natten_tf too`);
    }
  } else if (wanted !== 'cuda') {
    say('no TensorFlow headers and libtensorflow_framework.so.2 found (NATTEN_TF_DIR, or an installed ' +
        '@tensorflow/tfjs-node(-gpu) with deps/): building natten_cpu only');
  }
  if (defines.length > 0) {
    configure.push('--', ...defines);
  }
  run(gyp[0], configure);
  const jobs = String(Math.max(1, os.cpus().length));
  if (process.platform === 'win32') {
    run(gyp[0], [...gyp.slice(1), 'build']);
  } else {
    run('make', ['-C', 'build', 'BUILDTYPE=Release', `-j${jobs}`, ...targets]);
  }
  for (const t of targets) {
    if (!fs.existsSync(path.join(root, 'build', 'Release', `${t}.node`))) {
      throw new Error(`build/Release/${t}.node was not produced`);
    }
    say(`built build/Release/${t}.node${t === 'natten_tf' && tfGpu ? ' (with the GPU kernels)' : ''}`);
  }
  return targets;
}

function main() {
  const targets = build('cpu');
  if (prebuild) {
    const out = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
    fs.mkdirSync(out, {recursive: true});
    for (const t of targets) {
      fs.copyFileSync(path.join(root, 'build', 'Release', `${t}.node`), path.join(out, `${t}.node`));
      say(`copied ${t}.node to ${path.relative(root, out)}`);
    }
  }
}

module.exports = {build};

if (require.main === module) {
  try {
    main();
  } catch (e) {
    console.error(`build-native: failed: ${e.message}`);
    process.exit(1);
  }
}
