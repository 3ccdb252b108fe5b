#!/usr/bin/env bash
# The GPU check of tfjs-natten's CUDA kernels, on the H200 machine (CUDA 13, PyTorch; no Node, no network).
# Run from the repository root after scripts/gpu-cuda-prepare.sh here, carrying gpu-bundle and prebuilds:
#
#   bash scripts/gpu-cuda-check.sh [SUITES.js] [PHASE ...]
#
# SUITES.js: the lead's bundle of the suites (test/setup.ts first; run with NATTEN_TEST_BACKENDS=cuda, so only
# the harness's `cpu + cuda (tf32)` and `cpu + cuda (float32)` entries run). PHASEs, in this order by default:
#   build      check that the carried addon loads and sees the device, else build it here (build-cuda-direct.sh)
#   selfcheck  fast kernels against the reference kernels, every GPU case, TF32 and float32 (bench/cuda_selfcheck.ts)
#   suites     the suites on CUDA (needs SUITES.js)
#   bench      kernel times with data on the device, and the tfjs path with host copies (bench/cuda_bench.ts)
#   sweep      the fused forward's tile configurations, each checked then timed per preset (cuda_bench.ts --sweep;
#              not in the default list; SWEEP_PRESETS=2d-large,1d-long: only those presets)
#   profile    ncu (full set, clocks left alone) on one fused forward per preset (PROFILE_CONFIGS: configurations,
#              default the dispatcher's): $work/profile-<preset>[-c<config>].txt and the per-SASS-instruction table
#              source-<preset>[-c<config>].csv.xz; the addon's SASS, sass.txt.xz (not in the default
#              list). $OUT gets the JSON results and natten-gpu-results.tar (the whole work folder but binaries).
#   flex       PyTorch flex_attention on the same presets, after its mask check (bench/flex_baseline.py)
#   summary    the short table (scripts/gpu_cuda_summary.py)
# Each phase writes to $NATTEN_GPU_WORK (default /tmp/natten-gpu), which stays while the machine is warm, so
# the phases can be split over calls (one call may run 10 minutes at most: e.g. build selfcheck suites, then
# bench flex summary). At the end, the full log, the JSON results and the summary are copied to $OUT.
# NODE: a node binary (default: unpacked from gpu-bundle/node.xz). BENCH_ITERS (default 10).
set -uo pipefail
cd "$(dirname "$0")/.."
work="${NATTEN_GPU_WORK:-/tmp/natten-gpu}"
mkdir -p "$work"
suites=""
if [ $# -gt 0 ] && [[ "$1" == *.js ]]; then
  suites="$1"
  shift
fi
phases=("$@")
[ ${#phases[@]} -gt 0 ] || phases=(build selfcheck suites bench flex summary)

if [ -z "${NODE:-}" ]; then
  NODE="$work/node"
  [ -x "$NODE" ] || { xz -d -c gpu-bundle/node.xz > "$NODE" && chmod +x "$NODE"; }
fi
log="$work/check.log"
say() { echo "== $(date +%H:%M:%S) $*" | tee -a "$log"; }
run_phase() {  # name, command...: runs it with its output in the log and on stdout; records the exit code
  local name=$1
  shift
  say "$name: $*"
  local started=$SECONDS
  "$@" 2>&1 | tee -a "$log" "$work/$name.log"
  local rc=${PIPESTATUS[0]}
  echo "$rc" > "$work/$name.rc"
  say "$name: exit $rc after $((SECONDS - started)) s"
}

load_check() {
  "$NODE" -e "
    const a = require('./prebuilds/linux-x64/natten_cuda.node');
    const s = a.deviceStatus();
    console.log('addon built for', a.buildInfo.archs, '(CUDA runtime', a.buildInfo.cudaRuntime + '):', JSON.stringify(s));
    process.exit(s.deviceCount > 0 ? 0 : 2);"
}

for phase in "${phases[@]}"; do
  case "$phase" in
    build)
      say "device: $(nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv,noheader 2>&1)"
      say "nvcc: $(nvcc --version 2>&1 | tail -1)"
      if [ -f prebuilds/linux-x64/natten_cuda.node ] && load_check 2>&1 | tee -a "$log"; then
        say "build: the carried addon loads and sees the device"
      else
        say "build: building the addon here"
        [ -f prebuilds/linux-x64/natten_cuda.node ] && mv prebuilds/linux-x64/natten_cuda.node "$work/natten_cuda.carried.node"
        run_phase build bash scripts/build-cuda-direct.sh
        load_check 2>&1 | tee -a "$log"
      fi
      ;;
    selfcheck)
      run_phase selfcheck "$NODE" gpu-bundle/cuda_selfcheck.js --json "$work/selfcheck.json"
      ;;
    suites)
      if [ -z "$suites" ]; then
        say "suites: skipped (no SUITES.js given)"
      else
        export NATTEN_TEST_BACKENDS=cuda
        run_phase suites "$NODE" "$suites"
      fi
      ;;
    bench)
      run_phase bench "$NODE" gpu-bundle/cuda_bench.js --iters "${BENCH_ITERS:-10}" --json "$work/cuda_bench.json"
      ;;
    sweep)
      run_phase sweep "$NODE" gpu-bundle/cuda_bench.js --sweep --iters "${BENCH_ITERS:-10}" --json "$work/sweep.json" \
        ${SWEEP_PRESETS:+--preset "$SWEEP_PRESETS"}
      ;;
    profile)
      # ncu with the full set on one fused forward per preset and configuration (PROFILE_CONFIGS="auto 37": the
      # dispatcher's pick, then tile configuration 37), its text report, and the per-SASS-instruction table
      # (executed instructions, stall samples; scripts/gpu/ncu_source_summary.py reads it by opcode, run and
      # region); then the SASS of every kernel of the addon.
      ncu="${NCU:-$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda/bin/ncu 2>/dev/null | head -1)}"
      cuobjdump="$(command -v cuobjdump || echo /usr/local/cuda/bin/cuobjdump)"
      [ -n "$ncu" ] || say "profile: no ncu found (set NCU)"
      for preset in ${PROFILE_PRESETS:-2d-nat 2d-large 3d-video 1d-long}; do
        for config in ${PROFILE_CONFIGS:-${PROFILE_CONFIG:-auto}}; do
          name="$preset"; [ "$config" = auto ] || name="$preset-c$config"
          rm -f "$work/prof-$name.ncu-rep"
          run_phase "profile-$name" "$ncu" --clock-control none --kernel-name regex:fna_forward_ --launch-skip 1 \
            --launch-count 1 --set full --import-source no -o "$work/prof-$name" "$NODE" gpu-bundle/cuda_bench.js \
            --preset "$preset" --forward-only --iters 1 --warmup 1 $([ "$config" = auto ] || echo --config "$config")
          if [ -f "$work/prof-$name.ncu-rep" ]; then
            "$ncu" --import "$work/prof-$name.ncu-rep" > "$work/profile-$name.txt" 2>&1
            "$ncu" --import "$work/prof-$name.ncu-rep" --page source --csv --print-source sass 2>&1 |
              xz -T2 > "$work/source-$name.csv.xz"
          fi
        done
      done
      "$cuobjdump" --dump-sass prebuilds/linux-x64/natten_cuda.node 2>&1 | xz -T2 > "$work/sass.txt.xz"
      say "profile: sass.txt.xz $(du -h "$work/sass.txt.xz" | cut -f1)"
      ;;
    flex)
      export PYTHONUNBUFFERED=1
      run_phase flex python3 bench/flex_baseline.py --iters "${BENCH_ITERS:-10}" --json "$work/flex.json"
      ;;
    summary)
      python3 scripts/gpu_cuda_summary.py "$work" | tee "$work/summary.txt"
      ;;
    *)
      say "unknown phase $phase (expected build selfcheck suites bench sweep profile flex summary)"
      ;;
  esac
done

if [ -n "${OUT:-}" ]; then
  for f in "$work"/{check.log,selfcheck.json,cuda_bench.json,sweep.json,flex.json,summary.txt}; do
    [ -f "$f" ] && cp "$f" "$OUT/"
  done
  # Everything else in one archive (the device tool returns a few files per call).
  (cd "$work" && tar -cf "$OUT/natten-gpu-results.tar" --exclude='*.ncu-rep' --exclude=node \
    --exclude='natten_cuda.carried.node' .)
fi
