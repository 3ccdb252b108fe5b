#!/usr/bin/env bash
# Prepares, on this machine, what scripts/gpu-cuda-check.sh needs on the GPU machine (no Node, no network):
#   prebuilds/linux-x64/natten_cuda.node  the addon for sm_90a (NATTEN_CUDA_ARCHS=90 npm run build:cuda), unless built
#   gpu-bundle/node.xz                    this machine's Node, compressed (unpacked there by the check script)
#   gpu-bundle/cuda_selfcheck.js          bench/cuda_selfcheck.ts bundled with esbuild
#   gpu-bundle/cuda_bench.js              bench/cuda_bench.ts bundled
#   gpu-bundle/suites.js                  the suites run on CUDA (gpu-bundle/suites-entry.ts; written if absent)
#   gpu-bundle/headers/                   Node-API and node-addon-api headers, to build the addon there if this one
#                                         does not load (scripts/build-cuda-direct.sh)
# Both folders are git-ignored: carry them (device tool: carry ["gpu-bundle", "prebuilds"]). The suites bundle
# (test/setup.ts, then the suites, run with NATTEN_TEST_BACKENDS=cuda) is the lead's, passed to the check script.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f prebuilds/linux-x64/natten_cuda.node ] || [ "${NATTEN_REBUILD:-0}" = 1 ]; then
  NATTEN_CUDA_ARCHS="${NATTEN_CUDA_ARCHS:-90}" npm run build:cuda
fi
mkdir -p gpu-bundle/headers/node gpu-bundle/headers/node-addon-api
for entry in cuda_selfcheck cuda_bench; do
  npx esbuild "bench/$entry.ts" --bundle --platform=node --log-level=warning --outfile="gpu-bundle/$entry.js"
done
# The suites for the check's `suites` phase (gpu-bundle/suites.js), unless the lead's entry lists others.
if [ ! -f gpu-bundle/suites-entry.ts ]; then
  {
    echo "import '../test/gpu/runner';"
    echo "import '../test/setup';"
    for s in goldens sweep gradcheck split training layers errors cuda; do echo "import '../test/$s.test';"; done
    echo "import {runAll} from '../test/gpu/runner';"
    echo "runAll().then(failed => process.exit(failed > 0 ? 1 : 0));"
  } > gpu-bundle/suites-entry.ts
fi
npx esbuild gpu-bundle/suites-entry.ts --bundle --platform=node --ignore-annotations --log-level=error \
  --outfile=gpu-bundle/suites.js --external:@tensorflow/tfjs-node-gpu --external:@tensorflow/tfjs-node
[ -f gpu-bundle/node.xz ] || xz -T2 -c "$(command -v node)" > gpu-bundle/node.xz
node_inc="$(dirname "$(command -v node)")/../include/node"
cp "$node_inc"/{node_api.h,node_api_types.h,js_native_api.h,js_native_api_types.h} gpu-bundle/headers/node/
cp node_modules/node-addon-api/{napi.h,napi-inl.h,napi-inl.deprecated.h} gpu-bundle/headers/node-addon-api/
du -sh gpu-bundle prebuilds
