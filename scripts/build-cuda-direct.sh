#!/usr/bin/env bash
# Builds the CUDA addon without node-gyp or npm (the GPU machine has neither): nvcc for the .cu files, g++ for
# the Node-API glue, the CUDA runtime linked statically; the same sources and flags as binding.gyp.
#   NATTEN_CUDA_ARCHS (default 90), CUDA_HOME (default /usr/local/cuda),
#   NODE_API_INCLUDE (default gpu-bundle/headers/node), NODE_ADDON_API_INCLUDE (default gpu-bundle/headers/node-addon-api)
# Output: build/Release/natten_cuda.node, copied to prebuilds/linux-x64/natten_cuda.node.
set -euo pipefail
cd "$(dirname "$0")/.."
cuda="${CUDA_HOME:-/usr/local/cuda}"
node_inc="${NODE_API_INCLUDE:-gpu-bundle/headers/node}"
napi_inc="${NODE_ADDON_API_INCLUDE:-gpu-bundle/headers/node-addon-api}"
obj=build/direct
mkdir -p "$obj" build/Release prebuilds/linux-x64
arch_flags=()
for a in ${NATTEN_CUDA_ARCHS:-90}; do
  if [ "$a" = 90 ]; then  # as scripts/build-cuda.js: sm_90a, for the wgmma forward
    arch_flags+=("-gencode=arch=compute_90a,code=sm_90a" "-DNATTEN_SM90A=1")
  else
    arch_flags+=("-gencode=arch=compute_$a,code=sm_$a")
  fi
  newest=$a
done
arch_flags+=("-gencode=arch=compute_$newest,code=compute_$newest")  # PTX of the newest target
pids=()
for cu in native/src/cuda/*.cu; do
  "$cuda/bin/nvcc" -std=c++17 -O3 -Xcompiler -fPIC "${arch_flags[@]}" ${NATTEN_NVCC_FLAGS:-} \
    -Inative/include -Inative/src/cuda -c "$cu" -o "$obj/$(basename "$cu" .cu).o" &
  pids+=($!)
done
for cc in native/src/addon/*.cc; do
  g++ -std=c++17 -O2 -fPIC -DNAPI_CPP_EXCEPTIONS -I"$node_inc" -I"$napi_inc" -I"$cuda/include" -Inative/include \
    -c "$cc" -o "$obj/$(basename "$cc" .cc).o" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
g++ -shared -o build/Release/natten_cuda.node "$obj"/*.o "$cuda/lib64/libcudart_static.a" -ldl -lrt -lpthread
cp build/Release/natten_cuda.node prebuilds/linux-x64/natten_cuda.node
echo "build-cuda-direct: prebuilds/linux-x64/natten_cuda.node for sm_${NATTEN_CUDA_ARCHS:-90}"
