#!/usr/bin/env bash
# Runs before `npm test` (npm's pretest): makes ready, once, everything the suites need, each step cached so a
# second run takes seconds. The real tensorflow backend (tfjs-node-gpu built against the tensorflow-cpu wheel),
# the WebGPU suites' software Vulkan driver (.webgpu/), the native kernels (natten_cpu, and natten_tf against
# that TensorFlow; make rebuilds only what changed), and the builds the browser suites load (dist/). The
# browser suites also need Debian's Chromium, which only a system install gives: this says how when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${NATTEN_SKIP_PREPARE:-0}" = 1 ]; then
  echo "prepare-tests: skipped (NATTEN_SKIP_PREPARE=1)"
  exit 0
fi
if [ ! -x /usr/bin/chromium ]; then
  echo "prepare-tests: the browser suites need Debian's Chromium at /usr/bin/chromium:" >&2
  echo "  apt-get update && apt-get install -y --no-install-recommends chromium fonts-liberation" >&2
  exit 1
fi
npm run --silent setup:tfjs-node
npm run --silent build:native
# The CUDA addon where a CUDA toolkit is found (no GPU needed to build it; its tests without a device check the
# loader's reasons and the fallback). sm_90 alone (as sm_90a) unless NATTEN_CUDA_ARCHS says otherwise: the
# published build (npm run build:cuda) covers every target.
if [ -x "$(node scripts/build-cuda.js --print cuda-root)/bin/nvcc" ]; then
  NATTEN_CUDA_ARCHS="${NATTEN_CUDA_ARCHS:-90}" npm run --silent build:cuda
else
  echo "prepare-tests: no CUDA toolkit found: the CUDA addon is not built (its tests say so)"
fi
bash scripts/webgpu-driver.sh
npm run --silent build
# Jest's transform does not type-check: the suites, the bench and the demo are checked here.
npm run --silent typecheck
