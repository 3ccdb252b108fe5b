"""Measures the two ceilings of the GPU it runs on (METHOD.md: 'two numbers first'), through PyTorch:
device-memory bandwidth (a large device-to-device copy, bytes read plus written) and matrix rates
(8192^3 products in TF32 on tensor cores, in plain float32, and in bf16), on random data, with CUDA events,
median of several runs after warm-up. Prints one JSON line last."""
import json
import torch


def timed(fn, reps=10, warm=3):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    times.sort()
    return times[len(times) // 2]


def main():
    dev = torch.cuda.get_device_properties(0)
    out = {'device': dev.name, 'sms': dev.multi_processor_count, 'l2_mb': dev.L2_cache_size / 2**20}
    n = 2**29  # 2 GiB of float32
    x = torch.randn(n, device='cuda')
    y = torch.empty_like(x)
    ms = timed(lambda: y.copy_(x))
    out['copy_tb_s'] = 2 * 4 * n / (ms * 1e-3) / 1e12
    del x, y
    m = 8192
    a = torch.randn(m, m, device='cuda')
    b = torch.randn(m, m, device='cuda')
    for name, tf32 in (('tf32', True), ('fp32', False)):
        torch.backends.cuda.matmul.allow_tf32 = tf32
        ms = timed(lambda: a @ b)
        out[f'{name}_matmul_tflops'] = 2 * m**3 / (ms * 1e-3) / 1e12
    ah, bh = a.bfloat16(), b.bfloat16()
    ms = timed(lambda: ah @ bh)
    out['bf16_matmul_tflops'] = 2 * m**3 / (ms * 1e-3) / 1e12
    for k, v in out.items():
        print(f'{k}: {v:.2f}' if isinstance(v, float) else f'{k}: {v}')
    print(json.dumps(out))


if __name__ == '__main__':
    main()
