#!/usr/bin/env python3
"""PyTorch flex_attention baseline for tfjs-natten's CUDA benchmark (GPU machine; scripts/gpu-cuda-check.sh).

    python3 bench/flex_baseline.py [--preset 2d-nat,...] [--iters 20] [--warmup 3] [--json FILE] [--check-only]

flex_attention under torch.compile(dynamic=False) with a block mask (create_block_mask(..., _compile=True))
whose mask_mod is exactly the neighborhood of tfjs-natten's spec (per axis: kernel, stride, dilation, causal;
windows shifted inward at the borders), float32 inputs with TF32 allowed; forward and forward+backward times
by CUDA events (medians). Before timing, a correctness check proves the baseline is the same function: the
mask_mod's dense mask equals a brute-force mask written from the spec's formulas on small shapes (1/2/3-D,
strides, dilations not dividing the lengths, even kernels, every causal combination), and flex's output
equals a float64 dense masked softmax on a few of them.

The presets are bench/presets.ts's GPU presets (keep the two in step).
"""
import argparse
import itertools
import json
import math
import statistics
import sys

import torch
from torch.nn.attention.flex_attention import create_block_mask, flex_attention

PRESETS = {
    "2d-nat": dict(batch=16, spatial=[56, 56], heads=4, head_dim=32, kernel=[7, 7], dilation=[1, 1]),
    "2d-large": dict(batch=1, spatial=[128, 128], heads=16, head_dim=64, kernel=[13, 13], dilation=[1, 1]),
    "3d-video": dict(batch=1, spatial=[16, 48, 80], heads=24, head_dim=128, kernel=[8, 16, 16], dilation=[1, 1, 1]),
    "1d-long": dict(batch=4, spatial=[32768], heads=8, head_dim=64, kernel=[1023], dilation=[1]),
}


# ---------------------------------------------------------------------------------------------------------
# The neighborhood as a mask_mod (tensor ops only, so flex can vmap and compile it).

def _coords(index, spatial):
    """Row-major coordinates (last axis fastest) of a flat token index."""
    out = []
    rest = index
    for length in reversed(spatial):
        out.append(rest % length)
        rest = rest // length
    return list(reversed(out))


def _axis_neighbor(i, j, length, k, s, d, causal):
    g = i % d
    ih = i // d
    group_length = (length - g + d - 1) // d
    jh = j // d
    if causal:
        leader = torch.minimum((ih // s) * s + s - 1, group_length - 1)
        start = torch.clamp(leader - k + 1, min=0)
        end = torch.minimum(ih + 1, group_length)
    else:
        leader = torch.minimum((ih // s) * s + s // 2, group_length - 1)
        start = torch.clamp(torch.minimum(leader - k // 2, group_length - k), min=0)
        end = start + k
    return ((j % d) == g) & (jh >= start) & (jh < end)


def neighborhood_mask_mod(spatial, kernel, stride, dilation, causal):
    def mask_mod(b, h, q_idx, kv_idx):
        qc = _coords(q_idx, spatial)
        kc = _coords(kv_idx, spatial)
        ok = _axis_neighbor(qc[0], kc[0], spatial[0], kernel[0], stride[0], dilation[0], causal[0])
        for a in range(1, len(spatial)):
            ok = ok & _axis_neighbor(qc[a], kc[a], spatial[a], kernel[a], stride[a], dilation[a], causal[a])
        return ok
    return mask_mod


# ---------------------------------------------------------------------------------------------------------
# Brute force from the spec's formulas (plain Python), for the check.

def spec_window(i, length, k, s, d, causal):
    g = i % d
    ih = i // d
    group_length = math.ceil((length - g) / d)
    if causal:
        leader = min((ih // s) * s + s - 1, group_length - 1)
        return g, max(leader - k + 1, 0), min(ih + 1, group_length)
    leader = min((ih // s) * s + s // 2, group_length - 1)
    start = min(max(leader - k // 2, 0), group_length - k)
    return g, start, start + k


def spec_dense_mask(spatial, kernel, stride, dilation, causal):
    tokens = math.prod(spatial)
    coords = [tuple(_coords(t, spatial)) for t in range(tokens)]
    mask = torch.zeros(tokens, tokens, dtype=torch.bool)
    for q in range(tokens):
        windows = [spec_window(coords[q][a], spatial[a], kernel[a], stride[a], dilation[a], causal[a])
                   for a in range(len(spatial))]
        for kv in range(tokens):
            mask[q, kv] = all(coords[kv][a] % dilation[a] == windows[a][0] and
                              windows[a][1] <= coords[kv][a] // dilation[a] < windows[a][2]
                              for a in range(len(spatial)))
    return mask


CHECK_CASES = [
    dict(spatial=[10], kernel=[3], stride=[1], dilation=[3]),
    dict(spatial=[13], kernel=[4], stride=[3], dilation=[1]),
    dict(spatial=[11], kernel=[5], stride=[2], dilation=[2]),
    dict(spatial=[7, 9], kernel=[3, 4], stride=[1, 2], dilation=[2, 1]),
    dict(spatial=[8, 6], kernel=[2, 6], stride=[2, 3], dilation=[1, 1]),
    dict(spatial=[4, 5, 7], kernel=[2, 3, 3], stride=[1, 2, 3], dilation=[2, 1, 2]),
    dict(spatial=[5, 6, 4], kernel=[4, 2, 3], stride=[4, 1, 2], dilation=[1, 3, 1]),
]


def check_mask_and_output(device):
    """The mask_mod against the brute-force spec mask, and flex against a float64 dense reference."""
    results = []
    for case in CHECK_CASES:
        dims = len(case["spatial"])
        for causal in itertools.product([False, True], repeat=dims):
            c = dict(case, causal=list(causal))
            tokens = math.prod(c["spatial"])
            mask_mod = neighborhood_mask_mod(c["spatial"], c["kernel"], c["stride"], c["dilation"], c["causal"])
            q = torch.arange(tokens)[:, None]
            kv = torch.arange(tokens)[None, :]
            dense = mask_mod(0, 0, q, kv)
            expected = spec_dense_mask(c["spatial"], c["kernel"], c["stride"], c["dilation"], c["causal"])
            mismatches = int((dense != expected).sum())
            results.append(dict(case=c, mask_mismatches=mismatches))
            if mismatches:
                raise AssertionError(f"flex mask_mod differs from the spec on {c}: {mismatches} pairs")
    # Outputs on a few cases, float32 without TF32 against float64.
    torch.backends.cuda.matmul.allow_tf32 = False
    out_errors = []
    for case in CHECK_CASES[::2]:
        c = dict(case, causal=[i % 2 == 1 for i in range(len(case["spatial"]))])
        tokens = math.prod(c["spatial"])
        mask_mod = neighborhood_mask_mod(c["spatial"], c["kernel"], c["stride"], c["dilation"], c["causal"])
        block = create_block_mask(mask_mod, None, None, tokens, tokens, device=device, _compile=True)
        gen = torch.Generator(device="cpu").manual_seed(7)
        q, k, v = (torch.randn(2, 3, tokens, 16, generator=gen).to(device) for _ in range(3))
        out = flex_attention(q, k, v, block_mask=block)
        dense = spec_dense_mask(c["spatial"], c["kernel"], c["stride"], c["dilation"], c["causal"]).to(device)
        logits = (q.double() @ k.double().transpose(-1, -2)) / math.sqrt(16)
        ref = torch.softmax(logits.masked_fill(~dense, float("-inf")), dim=-1) @ v.double()
        err = float((out.double() - ref).abs().max())
        out_errors.append(dict(case=c, max_abs_err=err))
        if err > 1e-4:
            raise AssertionError(f"flex output differs from the dense reference on {c}: {err}")
    torch.backends.cuda.matmul.allow_tf32 = True
    return dict(mask_cases=len(results), output_cases=out_errors)


# ---------------------------------------------------------------------------------------------------------

def cuda_median_ms(fn, warmup, iters):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return statistics.median(times)


def bench_preset(name, p, flex, warmup, iters, device):
    spatial, kernel, dilation = p["spatial"], p["kernel"], p["dilation"]
    tokens = math.prod(spatial)
    dims = len(spatial)
    mask_mod = neighborhood_mask_mod(spatial, kernel, [1] * dims, dilation, [False] * dims)
    block = create_block_mask(mask_mod, None, None, tokens, tokens, device=device, _compile=True)
    shape = (p["batch"], p["heads"], tokens, p["head_dim"])
    q, k, v, d_out = (torch.randn(shape, device=device, dtype=torch.float32) for _ in range(4))
    scale = 1 / math.sqrt(p["head_dim"])
    fwd_ms = cuda_median_ms(lambda: flex(q, k, v, block_mask=block, scale=scale), warmup, iters)
    qg, kg, vg = (x.clone().requires_grad_(True) for x in (q, k, v))

    def fwd_bwd():
        for x in (qg, kg, vg):
            x.grad = None
        flex(qg, kg, vg, block_mask=block, scale=scale).backward(d_out)

    fwd_bwd_ms = cuda_median_ms(fwd_bwd, warmup, iters)
    k_volume = math.prod(kernel)
    flops = 4 * p["batch"] * p["heads"] * tokens * k_volume * p["head_dim"]
    result = dict(preset=name, forward_ms=fwd_ms, forward_backward_ms=fwd_bwd_ms,
                  forward_tflops=flops / (fwd_ms * 1e9), forward_backward_tflops=3.5 * flops / (fwd_bwd_ms * 1e9),
                  block_mask_sparsity=float(block.sparsity()))
    del q, k, v, d_out, qg, kg, vg, block
    torch.cuda.empty_cache()
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default=",".join(PRESETS))
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--json", default=None)
    parser.add_argument("--check-only", action="store_true")
    args = parser.parse_args()
    device = "cuda"
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.set_float32_matmul_precision("high")
    torch._dynamo.config.recompile_limit = 64
    torch._dynamo.config.cache_size_limit = 64
    flex = torch.compile(flex_attention, dynamic=False)
    print(f"flex baseline: torch {torch.__version__}, {torch.cuda.get_device_name()}", flush=True)
    check = check_mask_and_output(device)
    print(f"flex baseline: mask_mod equals the spec's brute-force mask on {check['mask_cases']} cases; "
          f"outputs match float64 (max abs err {max(c['max_abs_err'] for c in check['output_cases']):.1e})", flush=True)
    results = []
    if not args.check_only:
        for name in args.preset.split(","):
            if name not in PRESETS:
                sys.exit(f"flex baseline: unknown preset {name}; expected one of {', '.join(PRESETS)}")
            r = bench_preset(name, PRESETS[name], flex, args.warmup, args.iters, device)
            results.append(r)
            print(f"flex {name}: forward {r['forward_ms']:.3f} ms ({r['forward_tflops']:.1f} TFLOP/s), forward+backward "
                  f"{r['forward_backward_ms']:.3f} ms ({r['forward_backward_tflops']:.1f} TFLOP/s), block sparsity "
                  f"{r['block_mask_sparsity']:.1f}%", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(torch=torch.__version__, device=torch.cuda.get_device_name(), check=check,
                           iters=args.iters, warmup=args.warmup, presets=results), f, indent=2)


if __name__ == "__main__":
    main()
