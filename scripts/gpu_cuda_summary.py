#!/usr/bin/env python3
"""Short summary of scripts/gpu-cuda-check.sh's results (its work folder): the self-check, the suites' exit
status and last lines, and the benchmark beside flex_attention with the targets of issue 8 (forward and
forward+backward at least 3x faster than flex on the 2-D and 3-D presets, no slower on 1d-long)."""
import json
import os
import sys

work = sys.argv[1] if len(sys.argv) > 1 else "/tmp/natten-gpu"


def load(name):
    path = os.path.join(work, name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def rc(name):
    path = os.path.join(work, f"{name}.rc")
    return open(path).read().strip() if os.path.exists(path) else "not run"


def table(header, rows):
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = lambda cells: "| " + " | ".join(c.rjust(w) for c, w in zip(cells, widths)) + " |"
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


print("=" * 100)
selfcheck = load("selfcheck.json")
if selfcheck is None:
    print(f"self-check: no results (exit {rc('selfcheck')})")
else:
    runs = selfcheck["records"]
    failed = [r for r in runs if r.get("error") or any(not x["pass"] for x in r["results"])]
    worst = {}
    for r in runs:
        for x in r["results"]:
            if x["relErr"] > worst.get(r["precision"], (0, ""))[0]:
                worst[r["precision"]] = (x["relErr"], f"{x['op']} {x['tensor']}")
    print(f"self-check ({selfcheck['device']['name']}, addon for {selfcheck['archs']}): {len(runs) - len(failed)} of "
          f"{len(runs)} case x precision runs pass; worst " +
          ", ".join(f"{p} {v[0]:.2e} ({v[1]})" for p, v in sorted(worst.items())))
    for r in failed:
        bad = [f"{x['op']} {x['tensor']} {x['relErr']:.2e} bad {x['bad']}" for x in r["results"] if not x["pass"]]
        print(f"  FAIL {r['precision']} {r['case']}: {r.get('error') or '; '.join(bad)}")

suites_log = os.path.join(work, "suites.log")
if os.path.exists(suites_log):
    lines = [l for l in open(suites_log).read().splitlines() if l.strip()]
    print(f"suites on CUDA: exit {rc('suites')}; last lines:")
    for l in lines[-4:]:
        print(f"  {l[:160]}")
else:
    print("suites on CUDA: not run")

bench = load("cuda_bench.json")
flex = load("flex.json")
if bench is None:
    print(f"benchmark: no results (exit {rc('bench')})")
else:
    flex_by = {p["preset"]: p for p in (flex or {}).get("presets", [])}
    d = bench["device"]
    print(f"benchmark on {d['name']} (medians, CUDA events, data on the device; floor: max(bytes / {bench['hbmTbps']} "
          f"TB/s, FLOPs / {bench['tf32Tflops']} TFLOP/s); device copy measured {bench['copyTbps']:.2f} TB/s):")
    rows = []
    for k in bench["kernels"]:
        f = flex_by.get(k["preset"])
        need = 1.0 if k["preset"] == "1d-long" else 3.0
        fwd_x = f["forward_ms"] / k["forwardMs"] if f else None
        bwd_x = f["forward_backward_ms"] / k["forwardBackwardMs"] if f else None
        ok = lambda x: "-" if x is None else ("yes" if x >= need else "NO")
        rows.append([k["preset"], k["precision"], f"{k['forwardMs']:.3f}", f"{f['forward_ms']:.3f}" if f else "-",
                     f"{fwd_x:.2f}x" if fwd_x else "-", ok(fwd_x) if k["precision"] == "tf32" else "",
                     f"{k['forwardBackwardMs']:.3f}", f"{f['forward_backward_ms']:.3f}" if f else "-",
                     f"{bwd_x:.2f}x" if bwd_x else "-", ok(bwd_x) if k["precision"] == "tf32" else "",
                     f"{k['forwardTflops']:.1f}", f"{k['forwardFloorMs'] / k['forwardMs']:.2f}",
                     f"{k['forwardBackwardTflops']:.1f}", f"{k['forwardBackwardFloorMs'] / k['forwardBackwardMs']:.2f}"])
    print(table(["preset", "prec", "fwd ms", "flex", "speedup", "target", "fwd+bwd ms", "flex", "speedup", "target",
                 "fwd TF/s", "fwd/floor", "f+b TF/s", "f+b/floor"], rows))
    for t in bench.get("tfjs", []):
        f = t["forward"]
        print(f"tfjs {t['preset']} (cpu backend + enableCuda, host copies): na2d {t['forwardWallMs']:.2f} ms = h2d "
              f"{f['h2dMs']:.2f} + kernels {f['kernelMs']:.2f} + d2h {f['d2hMs']:.2f} + rest "
              f"{t['forwardWallMs'] - f['h2dMs'] - f['kernelMs'] - f['d2hMs']:.2f}; with gradients "
              f"{t['forwardBackwardWallMs']:.2f} ms")
if flex is None:
    print(f"flex: no results (exit {rc('flex')})")
else:
    errs = [c["max_abs_err"] for c in flex["check"]["output_cases"]]
    print(f"flex {flex['torch']}: mask_mod equals the spec on {flex['check']['mask_cases']} cases, outputs match float64 "
          f"to {max(errs):.1e}")

sweep = load("sweep.json")
if sweep is not None:
    flex_by = {p["preset"]: p for p in (flex or {}).get("presets", [])}
    print("forward tile configurations (sweep, TF32; each checked against the reference first):")
    rows = []
    for preset in dict.fromkeys(r["preset"] for r in sweep["sweep"]):
        mine = [r for r in sweep["sweep"] if r["preset"] == preset]
        auto = next((r for r in mine if r["config"] < 0), None)
        good = [r for r in mine if r["config"] >= 0 and r["checkPass"] and r["forwardMs"] == r["forwardMs"]]
        best = min(good, key=lambda r: r["forwardMs"]) if good else None
        f = flex_by.get(preset)
        failed = [str(r["config"]) for r in mine if not r["checkPass"]]
        rows.append([preset, f"{auto['forwardMs']:.3f}" if auto else "-",
                     f"{best['config']} ({best['warps']}w x {best['blockN']})" if best else "none",
                     f"{best['forwardMs']:.3f}" if best else "-",
                     f"{f['forward_ms'] / best['forwardMs']:.2f}x" if best and f else "-",
                     ",".join(failed) or "none"])
    print(table(["preset", "auto fwd ms", "best config", "best fwd ms", "vs flex", "failed checks"], rows))
