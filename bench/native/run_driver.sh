#!/usr/bin/env bash
# Builds bench/native/driver.cc against the native CPU kernels' sources (no node-gyp) and runs it; arguments
# go to the driver. Output binary: build/native-driver/driver.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=build/native-driver
mkdir -p "$out"
src=native/src/cpu
flags=(-O3 -g -std=c++17 -Inative/include -I"$src" -pthread)
g++ "${flags[@]}" -mavx2 -mfma ${NATTEN_DRIVER_CFLAGS:-} -c "$src/kernels_avx2.cc" -o "$out/kernels_avx2.o"
g++ "${flags[@]}" -mavx2 -mfma -mavx512f -mavx512vl ${NATTEN_DRIVER_CFLAGS:-} -c "$src/kernels_avx512.cc" \
  -o "$out/kernels_avx512.o"
g++ "${flags[@]}" bench/native/driver.cc "$src/geometry.cc" "$src/thread_pool.cc" "$src/na_cpu.cc" \
  "$src/kernels_portable.cc" "$src/clock.cc" "$out/kernels_avx2.o" "$out/kernels_avx512.o" -o "$out/driver"
exec "$out/driver" "$@"
