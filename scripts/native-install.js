#!/usr/bin/env node
/**
 * The package's `install` script. With a binding.gyp at the package root, npm would otherwise run
 * `node-gyp rebuild` on every install; tfjs-natten never compiles on install. This only reports which
 * native addons the package carries for this platform (prebuilds/<platform>-<arch>/): the native CPU
 * kernels (without them the CPU kernels run as WebAssembly; in a clone `npm run build:native` builds them),
 * then the CUDA addon (scripts/cuda-install-note.js).
 */
'use strict';
const fs = require('fs');
const path = require('path');

const dir = path.join(__dirname, '..', 'prebuilds', `${process.platform}-${process.arch}`);
if (!fs.existsSync(path.join(dir, 'natten_cpu.node'))) {
  console.log(`tfjs-natten: no prebuilt native CPU kernels for ${process.platform}-${process.arch}; the CPU ` +
              'kernels will run as WebAssembly (in a clone, npm run build:native builds them).');
}
require('./cuda-install-note');
