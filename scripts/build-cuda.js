#!/usr/bin/env node
/**
 * npm run build:cuda [-- --sm90]: builds tfjs-natten's CUDA addon from source with node-gyp (binding.gyp's
 * target natten_cuda) and copies it to prebuilds/<platform>-<arch>/natten_cuda.node, where the package's
 * loader finds it and the published package carries it.
 *
 * Targets: sm_75, sm_80, sm_86, sm_89, sm_90 machine code plus sm_90 PTX by default; `--sm90` (or
 * NATTEN_CUDA_ARCHS=90) builds sm_90 alone, much faster (CI). The CUDA runtime is linked statically, so the
 * addon needs only the NVIDIA driver. CUDA root: NATTEN_CUDA_ROOT, CUDA_HOME, CUDA_PATH or /usr/local/cuda.
 * NATTEN_NVCC_FLAGS adds nvcc flags (e.g. "-Xptxas -v" for the register and spill report).
 *
 * The build itself is build-native.js's `build('cuda')` (one node-gyp configuration for every addon: make
 * natten_cuda only). binding.gyp also calls this file with `--print cuda-root`, `--print nvcc-flags` and
 * `--print cuda-headers`.
 */
'use strict';
const fs = require('fs');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');
const DEFAULT_ARCHS = '75 80 86 89 90';

function cudaRoot() {
  for (const dir of [process.env.NATTEN_CUDA_ROOT, process.env.CUDA_HOME, process.env.CUDA_PATH, '/usr/local/cuda']) {
    if (dir && fs.existsSync(path.join(dir, 'bin', 'nvcc'))) {
      return dir;
    }
  }
  return null;
}

function archs() {
  return (process.env.NATTEN_CUDA_ARCHS || DEFAULT_ARCHS).split(/[\s,]+/).filter(Boolean).map(a => {
    if (!/^\d+$/.test(a)) {
      throw new Error(`build-cuda: NATTEN_CUDA_ARCHS must list compute capabilities like "80 90", got "${a}"`);
    }
    return Number(a);
  }).sort((a, b) => a - b);
}

/**
 * nvcc flags: machine code for every target and PTX for the newest (so newer GPUs can JIT it). Target 90 is
 * built as sm_90a (Hopper's arch-specific features: the wgmma forward; NATTEN_SM90A tells the host code).
 */
function nvccFlags() {
  const list = archs();
  const flags = list.flatMap(a => (a === 90 ? ['-gencode=arch=compute_90a,code=sm_90a', '-DNATTEN_SM90A=1']
                                            : [`-gencode=arch=compute_${a},code=sm_${a}`]));
  const newest = list[list.length - 1];
  flags.push(`-gencode=arch=compute_${newest},code=compute_${newest}`);
  const extra = (process.env.NATTEN_NVCC_FLAGS || '').split(/\s+/).filter(Boolean);
  return [...flags, ...extra];
}

function main() {
  const print = process.argv.indexOf('--print');
  if (print >= 0) {
    const what = process.argv[print + 1];
    if (what === 'cuda-root') {
      process.stdout.write(cudaRoot() || '/usr/local/cuda');
    } else if (what === 'nvcc-flags') {
      process.stdout.write(nvccFlags().join(' '));
    } else if (what === 'cuda-headers') {
      // Absolute paths of the headers the .cu files include: binding.gyp's nvcc rules list them as inputs, so
      // make rebuilds the kernels when one changes.
      const dirs = ['native/include/natten', 'native/include/natten/cuda', 'native/src/cuda'];
      process.stdout.write(dirs.flatMap(d => fs.readdirSync(path.join(ROOT, d))
                                                 .filter(n => /\.(h|cuh)$/.test(n))
                                                 .map(n => path.join(ROOT, d, n))).join(' '));
    } else {
      throw new Error(`build-cuda: --print takes cuda-root, nvcc-flags or cuda-headers, got ${what}`);
    }
    return;
  }
  if (process.argv.includes('--sm90')) {
    process.env.NATTEN_CUDA_ARCHS = '90';
  }
  const root = cudaRoot();
  if (root == null) {
    console.error('build-cuda: no CUDA toolkit found (set NATTEN_CUDA_ROOT or CUDA_HOME to a folder with bin/nvcc)');
    process.exit(1);
  }
  console.log(`build-cuda: CUDA at ${root}, targets sm_${archs().join(', sm_')} (+ PTX)`);
  const started = Date.now();
  process.env.NATTEN_CUDA_ROOT = root;
  require('./build-native').build('cuda');
  const built = path.join(ROOT, 'build', 'Release', 'natten_cuda.node');
  const dest = path.join(ROOT, 'prebuilds', `${process.platform}-${process.arch}`, 'natten_cuda.node');
  fs.mkdirSync(path.dirname(dest), {recursive: true});
  fs.copyFileSync(built, dest);
  console.log(`build-cuda: ${path.relative(ROOT, dest)} (${(fs.statSync(dest).size / 1e6).toFixed(1)} MB) in ${
      ((Date.now() - started) / 1000).toFixed(0)} s`);
}

main();
