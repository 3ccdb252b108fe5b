#!/usr/bin/env bash
# Fetches a software Vulkan driver for the WebGPU tests in Node (Dawn through the `webgpu` package):
# Mesa's lavapipe 25 from bookworm-backports and the Vulkan loader, unpacked into .webgpu/ of this clone.
# Nothing is installed into the system: apt runs with a private configuration and state under .webgpu/apt.
# Writes .webgpu/lvp_icd.json (the ICD with an absolute library path); test/webgpu_env.ts finds both.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD/.webgpu"
if [ -f "$root/lvp_icd.json" ] && [ -f "$root/root/usr/lib/x86_64-linux-gnu/libvulkan.so.1" ]; then
  echo "webgpu-driver: already in $root"
  exit 0
fi
apt="$root/apt"
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/debs" "$root/root"
cat > "$apt/sources.list" <<LIST
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-backports main
LIST
cat > "$apt/apt.conf" <<CONF
Dir::Etc::SourceList "$apt/sources.list";
Dir::Etc::SourceParts "/nonexistent";
Dir::State::Lists "$apt/lists";
Dir::State::Status "$apt/status";
Dir::Cache "$apt/cache";
APT::Sandbox::User "root";
CONF
touch "$apt/status"
export APT_CONFIG="$apt/apt.conf"
apt-get -q update >/dev/null
# lavapipe 25 needs LLVM 15 and a few X/Wayland client libraries (all in Debian 12's base system here);
# the loader (libvulkan1) is the only other package it needs.
(cd "$apt/debs" && apt-get -q download mesa-vulkan-drivers/bookworm-backports libvulkan1 >/dev/null)
for deb in "$apt/debs"/*.deb; do
  dpkg-deb -x "$deb" "$root/root"
done
lib="$root/root/usr/lib/x86_64-linux-gnu"
missing=$(ldd "$lib/libvulkan_lvp.so" | grep 'not found' || true)
if [ -n "$missing" ]; then
  echo "webgpu-driver: lavapipe needs libraries this system lacks:" >&2
  echo "$missing" >&2
  exit 1
fi
cat > "$root/lvp_icd.json" <<JSON
{"file_format_version": "1.0.0", "ICD": {"library_path": "$lib/libvulkan_lvp.so", "api_version": "1.4.305"}}
JSON
echo "webgpu-driver: lavapipe in $root"
