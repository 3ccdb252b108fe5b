#!/usr/bin/env node
/**
 * The package's install script: it builds nothing (a root binding.gyp would otherwise make npm run
 * `node-gyp rebuild`, which fails without CUDA). It only says whether a prebuilt CUDA addon came with the
 * package for this platform; without one, NA runs on the CPU kernels (npm run build:cuda builds it).
 */
'use strict';
const fs = require('fs');
const path = require('path');

const name = `${process.platform}-${process.arch}`;
const prebuilt = path.join(__dirname, '..', 'prebuilds', name, 'natten_cuda.node');
if (!fs.existsSync(prebuilt) && process.env.npm_config_loglevel !== 'silent') {
  console.log(`tfjs-natten: no prebuilt CUDA addon for ${name}; neighborhood attention runs on the CPU kernels ` +
              '(npm run build:cuda builds the addon from source)');
}
