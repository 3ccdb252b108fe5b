# Sourced at the start of every command on the GPU machine (no Node, no Vulkan loader, no network there):
# unpacks the carried Node binary, Dawn and the Vulkan/GL loaders from gpu-bundle/, and points Vulkan at the
# NVIDIA driver. Afterwards: $NODE runs Node, $DAWN_NODE is the path of dawn.node.
set -e
B=${GPU_BUNDLE:-gpu-bundle}
mkdir -p /tmp/natten-gpu
export NODE=/tmp/natten-gpu/node DAWN_NODE=/tmp/natten-gpu/dawn.node
[ -x "$NODE" ] || { xz -d -c "$B/node.xz" > "$NODE"; chmod +x "$NODE"; }
[ -f "$DAWN_NODE" ] || xz -d -c "$B/dawn.node.xz" > "$DAWN_NODE"
if ! ldconfig -p | grep -q libvulkan.so.1; then
  for f in "$B"/gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
export VK_ICD_FILENAMES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
export PYTHONUNBUFFERED=1
set +e
