#!/usr/bin/env bash
# Runs steps of a GPU-machine session from the repository root there, after scripts/gpu/prepare.sh (WebGPU
# bundles) and scripts/gpu-cuda-prepare.sh (CUDA addon and bundles) here; carry gpu-bundle/ and prebuilds/ (64 MiB
# at most in all: node.xz alone is 24 MB). Everything it writes to $OUT ends up in one all.tar (the device tool
# returns at most 8 files per call).
#   bash scripts/gpu/run-steps.sh STEP...
#   wcross            bench/webgpu_crosscheck (webgpu against the CPU kernels on cut-down GPU presets)
#   wsuites           the suites on webgpu
#   wbench[:PRESETS]  npm run bench --backend webgpu --quick (default: the four GPU presets)
#   wbenchfull[:P]    the same without --quick
#   wtiles[:PRESETS]  bench/webgpu_tiles (row and tiled programs, several tile shapes; WTILES_ARGS=--backward)
#   wstats[:PRESETS]  bench/webgpu_tiles with Dawn's dump_shaders on (one round), then scripts/gpu/shader_stats.py:
#                     what the Vulkan driver made of every tiled program it ran (registers, shared and local memory)
#   wfeatures         scripts/gpu/adapter_features.js: the adapter's features and subgroup sizes
#   wab[:PRESETS]     the built-in forward of this tree, of every gpu-bundle/webgpu_tiles-NAME.js (other commits') and,
#                     with WAB_UNSAFE=1, of this tree without Dawn's robustness clamps, in turns (WAB_ROUNDS rounds)
#   wvar:N            the bench with NATTEN_WEBGPU_TILE=$WTILE_N and NATTEN_WEBGPU_FUSED=$WFUSED_N (WVAR_PRESETS)
#   cuda:PH,PH        scripts/gpu-cuda-check.sh gpu-bundle/suites.js PH PH ... (build selfcheck suites sweep bench
#                     flex summary profile)
# Per-step time limits: WBENCH_TIMEOUT, WTILES_TIMEOUT, CUDA_TIMEOUT (seconds).
set -u
source scripts/gpu/setup.sh
export NATTEN_DAWN_NODE=$DAWN_NODE NATTEN_DAWN_FLAGS=backend=vulkan NATTEN_TEST_WITHOUT_TENSORFLOW=1
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee -a "$OUT/steps.log"
for step in "$@"; do
  t0=$SECONDS; name=${step%%:*}; arg=${step#*:}; [ "$arg" = "$step" ] && arg=""
  echo "== $(date +%T) $step" | tee -a "$OUT/steps.log"
  case "$name" in
    wcross) timeout 300 "$NODE" gpu-bundle/webgpu_crosscheck.js > "$OUT/wcross.log" 2>&1; rc=$? ;;
    wsuites) NATTEN_TEST_BACKENDS=webgpu timeout 400 "$NODE" gpu-bundle/suites.js > "$OUT/wsuites.log" 2>&1; rc=$? ;;
    wbench|wbenchfull)
      p=${arg:-2d-nat,2d-large,3d-video,1d-long}; q=--quick; [ "$name" = wbenchfull ] && q=""
      timeout ${WBENCH_TIMEOUT:-500} "$NODE" gpu-bundle/bench.js --backend webgpu --preset "$p" $q --json "$OUT/$name.json" > "$OUT/$name.log" 2>&1; rc=$? ;;
    wtiles) timeout ${WTILES_TIMEOUT:-300} "$NODE" gpu-bundle/webgpu_tiles.js --preset "${arg:-2d-nat,2d-large,1d-long,3d-video}" --budget-ms 1500 ${WTILES_ARGS:-} > "$OUT/wtiles-$(date +%s).log" 2>&1; rc=$? ;;
    wstats)
      NATTEN_DAWN_FLAGS=backend=vulkan,enable-dawn-features=dump_shaders timeout ${WTILES_TIMEOUT:-300} "$NODE" gpu-bundle/webgpu_tiles.js --preset "${arg:-2d-large,3d-video}" --budget-ms 1500 ${WTILES_ARGS:-} > /tmp/natten-gpu/wstats-dump.log 2>&1; rc=$?
      grep -E '^\| ' /tmp/natten-gpu/wstats-dump.log > "$OUT/wstats-tiles.log"
      python3 scripts/gpu/shader_stats.py /tmp/natten-gpu/wstats-dump.log --vkstats gpu-bundle/vkstats --spirv-as gpu-bundle/spirv-as --out /tmp/natten-gpu/shaders > "$OUT/wstats.log" 2>&1 || rc=$?
      (cd /tmp/natten-gpu && tar -cJf "$OUT/shaders.tar.xz" shaders) ;;
    wab)
      # The forward's GPU time per call, built-in picks only, in turns: this tree's programs (gpu-bundle/webgpu_tiles.js),
      # every other bundle of the tool there (gpu-bundle/webgpu_tiles-NAME.js, e.g. a base commit's), and with
      # WAB_UNSAFE=1 this tree's with Dawn's robustness transform off (bounds clamps gone: a measurement, not a way to
      # run).
      rc=0
      for r in $(seq 1 ${WAB_ROUNDS:-3}); do
        for js in gpu-bundle/webgpu_tiles.js gpu-bundle/webgpu_tiles-*.js unsafe; do
          flags=$NATTEN_DAWN_FLAGS
          if [ $js = unsafe ]; then
            [ "${WAB_UNSAFE:-0}" = 1 ] || continue
            js=gpu-bundle/webgpu_tiles.js; flags=$flags,enable-dawn-features=disable_robustness
          fi
          [ -f $js ] || continue
          echo "=== round $r: $js $flags" >> "$OUT/wab.log"
          NATTEN_DAWN_FLAGS=$flags timeout ${WTILES_TIMEOUT:-300} "$NODE" $js --preset "${arg:-2d-large,3d-video}" --extra-only \
            --budget-ms 1500 ${WTILES_ARGS:-} >> "$OUT/wab.log" 2>&1 || rc=$?
        done
      done ;;
    wfeatures) timeout 60 "$NODE" scripts/gpu/adapter_features.js > "$OUT/wfeatures.log" 2>&1; rc=$? ;;
    wvar) v="WTILE_$arg"; f="WFUSED_$arg"
      NATTEN_WEBGPU_TILE="${!v:-}" NATTEN_WEBGPU_FUSED="${!f:-auto}" timeout ${WBENCH_TIMEOUT:-500} "$NODE" gpu-bundle/bench.js --backend webgpu --preset "${WVAR_PRESETS:-2d-large}" --quick --json "$OUT/wvar$arg.json" > "$OUT/wvar$arg.log" 2>&1; rc=$?
      echo "variant $arg: tile='${!v:-}' fused=${!f:-auto}" | tee -a "$OUT/steps.log" ;;
    cuda) NATTEN_GPU_WORK=/tmp/natten-gpu/cuda timeout ${CUDA_TIMEOUT:-560} bash scripts/gpu-cuda-check.sh gpu-bundle/suites.js ${arg//,/ } > "$OUT/cuda-$arg.log" 2>&1; rc=$?
          cp /tmp/natten-gpu/cuda/*.{json,log,txt,xz} "$OUT/" 2>/dev/null ;;
    *) echo "unknown step $step"; rc=2 ;;
  esac
  echo "== $step: rc $rc after $((SECONDS - t0)) s" | tee -a "$OUT/steps.log"
  tail -n 25 "$OUT"/*"${name}"*.log 2>/dev/null | tail -n 25
done
cd "$OUT" && tar -cf /tmp/all.tar . && find "$OUT" -mindepth 1 -delete && mv /tmp/all.tar "$OUT/all.tar"
