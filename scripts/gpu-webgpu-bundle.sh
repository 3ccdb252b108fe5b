#!/usr/bin/env bash
# Bundles the WebGPU benchmark for a GPU machine without Node.js or network (shared/gpu-machine.md): writes
# gpu-bundle/webgpu/{bench.js,dawn.node.xz,node.xz,run.sh}. There: `bash gpu-bundle/webgpu/run.sh [bench args]`
# (it unpacks node and dawn.node into /tmp and runs the bench on the NVIDIA Vulkan driver). The GL/Vulkan
# loader .debs of gpu-machine.md must be in gpu-bundle/gl/ (this script fetches them when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
out=gpu-bundle/webgpu
mkdir -p "$out" gpu-bundle/gl
npx esbuild bench/bench.ts --bundle --platform=node --outfile="$out/bench.js" --external:@tensorflow/tfjs-node \
  --external:webgpu --log-level=warning
xz -T2 -c node_modules/webgpu/dist/linux-x64/dawn.node > "$out/dawn.node.xz"
[ -f "$out/node.xz" ] || xz -T2 -c "$(command -v node)" > "$out/node.xz"
if ! ls gpu-bundle/gl/*.deb >/dev/null 2>&1; then
  (cd gpu-bundle/gl && apt-get download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
cat > "$out/run.sh" <<'RUN'
#!/usr/bin/env bash
# On the GPU machine: bash gpu-bundle/webgpu/run.sh --preset 2d-nat,2d-large,3d-video,1d-long --json /tmp/webgpu.json
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
for f in "$here"/../gl/*.deb; do dpkg -x "$f" /; done
ldconfig
[ -x /tmp/node ] || { xz -d -c "$here/node.xz" > /tmp/node; chmod +x /tmp/node; }
[ -f /tmp/dawn.node ] || xz -d -c "$here/dawn.node.xz" > /tmp/dawn.node
export VK_ICD_FILENAMES=${VK_ICD_FILENAMES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
export VK_DRIVER_FILES=$VK_ICD_FILENAMES
export NATTEN_DAWN_NODE=/tmp/dawn.node NATTEN_DAWN_FLAGS=${NATTEN_DAWN_FLAGS:-backend=vulkan}
cd "$here"
/tmp/node bench.js --backend webgpu "$@"
RUN
chmod +x "$out/run.sh"
du -sh "$out" gpu-bundle/gl
