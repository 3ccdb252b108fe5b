#!/usr/bin/env bash
# Builds bench/native/driver.cc against the native CPU kernels' sources (no node-gyp) and runs it; arguments
# go to the driver. Output binary: build/native-driver/driver. The row kernels' translation units compile in
# parallel, each only when its sources changed since its object was built.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=build/native-driver
mkdir -p "$out"
src=native/src/cpu
flags=(-O3 -g -std=c++17 -Inative/include -I"$src" -pthread)
avx512=(-mavx2 -mfma -mavx512f -mavx512vl)
compile() {  # object, source, extra flags...
  local obj=$1 source=$2
  shift 2
  if [[ -f "$obj" && "$obj" -nt "$source" && "$obj" -nt "$src/kernels.h" && "$obj" -nt "$src/simd.h" &&
        "$obj" -nt "$src/call.h" && "$obj" -nt "$0" ]]; then
    return 0
  fi
  g++ "${flags[@]}" "$@" ${NATTEN_DRIVER_CFLAGS:-} -c "$source" -o "$obj"
}
compile "$out/kernels_avx2.o" "$src/kernels_avx2.cc" -mavx2 -mfma &
compile "$out/kernels_avx512.o" "$src/kernels_avx512.cc" "${avx512[@]}" &
compile "$out/kernels_avx512zmm.o" "$src/kernels_avx512zmm.cc" "${avx512[@]}" &
wait %1 && wait %2 && wait %3
g++ "${flags[@]}" bench/native/driver.cc "$src/geometry.cc" "$src/thread_pool.cc" "$src/na_cpu.cc" \
  "$src/kernels_portable.cc" "$src/clock.cc" "$out/kernels_avx2.o" "$out/kernels_avx512.o" \
  "$out/kernels_avx512zmm.o" -o "$out/driver"
exec "$out/driver" "$@"
