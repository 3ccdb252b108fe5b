#!/usr/bin/env bash
# Prepares here what a run on the GPU machine needs (it has no Node.js, no npm and no network; docs in
# shared/gpu-machine.md): everything goes into gpu-bundle/ (git-ignored), which the device call carries.
#   gpu-bundle/node.xz, dawn.node.xz, gl/*.deb   Node, Dawn and the Vulkan/GL loaders (scripts/gpu/setup.sh unpacks)
#   gpu-bundle/suites.js                         the jest suites bundled with test/gpu/runner.ts (run with
#                                                NATTEN_TEST_BACKENDS naming the GPU backends)
#   gpu-bundle/bench.js, webgpu_crosscheck.js,   npm run bench, bench/webgpu_crosscheck.ts and bench/webgpu_tiles.ts
#   webgpu_tiles.js                              (the fused programs and tile shapes side by side), bundled
# Usage: bash scripts/gpu/prepare.sh [SUITE ...]   (suite file names under test/, default: the GPU-relevant ones)
# On the GPU machine: scripts/gpu/run-steps.sh runs the steps (suites, crosscheck, bench, tiles, CUDA check phases).
set -euo pipefail
cd "$(dirname "$0")/../.."
B=gpu-bundle
mkdir -p "$B/gl"
[ -f "$B/node.xz" ] || xz -T2 -c "$(command -v node)" > "$B/node.xz"
[ -f "$B/dawn.node.xz" ] || xz -T2 -c node_modules/webgpu/dist/linux-x64/dawn.node > "$B/dawn.node.xz"
if ! ls "$B"/gl/*.deb > /dev/null 2>&1; then
  (cd "$B/gl" && apt-get download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(goldens sweep gradcheck split training layers webgpu)
entry="$B/suites-entry.ts"
{
  echo "import '../test/gpu/runner';"
  echo "import '../test/setup';"
  for s in "${suites[@]}"; do echo "import '../test/$s.test';"; done
  echo "import {runAll} from '../test/gpu/runner';"
  echo "runAll().then(failed => process.exit(failed > 0 ? 1 : 0));"
} > "$entry"
# --ignore-annotations: package.json's sideEffects list leaves out test files, which are all side effects here.
npx esbuild "$entry" --bundle --platform=node --ignore-annotations --log-level=warning --outfile="$B/suites.js" \
  --external:@tensorflow/tfjs-node-gpu --external:@tensorflow/tfjs-node
for entry in bench webgpu_crosscheck webgpu_tiles; do
  npx esbuild "bench/$entry.ts" --bundle --platform=node --log-level=warning --outfile="$B/$entry.js" \
    --external:@tensorflow/tfjs-node-gpu --external:@tensorflow/tfjs-node
done
# The driver-statistics tools of run-steps.sh's wstats step: vkstats (against the carried Vulkan loader) and spirv-as
# (Debian's spirv-tools; apt-get install spirv-tools libvulkan-dev here).
if command -v spirv-as > /dev/null && [ -f /usr/include/vulkan/vulkan.h ]; then
  g++ -O2 -std=c++17 scripts/gpu/vkstats.cc -o "$B/vkstats" -lvulkan
  cp "$(command -v spirv-as)" "$B/spirv-as"
else
  echo "prepare.sh: no spirv-as or Vulkan headers (apt-get install spirv-tools libvulkan-dev): the wstats step will not run"
fi
du -sh "$B"
