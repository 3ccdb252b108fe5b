// The self-check and the benchmark (natten/cuda/tools.h).
#include "natten/cuda/tools.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "common.h"

namespace natten {
namespace cuda {
namespace tools {
namespace {

// Device memory freed on every path.
struct Buffer {
  float* ptr = nullptr;
  int64_t n = 0;
  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() {
    if (ptr != nullptr) {
      cudaFree(ptr);
    }
  }
  Status allocate(int64_t elems, const char* what) {
    n = elems;
    if (elems == 0) {
      return Status{};
    }
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, sizeof(float) * elems);
    if (e != cudaSuccess) {
      cudaGetLastError();
      return cuda_error(e, std::string("allocating ") + what);
    }
    ptr = static_cast<float*>(p);
    return Status{};
  }
};

NATTEN_DEVICE uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Standard normal values (Box-Muller on a counter-based hash), times `scale`.
__global__ void fill_normal_kernel(float* p, int64_t n, uint64_t seed, float scale) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const uint64_t h = splitmix64(seed * 0x632be59bd9b4e019ull + static_cast<uint64_t>(i));
    const float u1 = (static_cast<float>(h >> 40) + 1.f) * (1.f / 16777217.f);
    const float u2 = static_cast<float>((h >> 16) & 0xffffff) * (1.f / 16777216.f);
    p[i] = scale * sqrtf(-2.f * logf(u1)) * cosf(6.283185307f * u2);
  }
}

Status fill(Buffer& b, uint64_t seed, float scale, cudaStream_t stream) {
  if (b.n == 0) {
    return Status{};
  }
  NATTEN_LAUNCH(fill_normal_kernel, dim3(flat_blocks(b.n)), dim3(kFlatThreads), 0, stream, b.ptr, b.n, seed, scale);
  return check_launch("random fill");
}

Status poison(Buffer& b, cudaStream_t stream) {
  if (b.n == 0) {
    return Status{};
  }
  NATTEN_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(b.ptr, 0xff, sizeof(float) * b.n, stream), "poisoning an output");
  return Status{};
}

Status to_host(const Buffer& b, std::vector<float>* out) {
  out->resize(b.n);
  if (b.n > 0) {
    NATTEN_CUDA_RETURN_IF_ERROR(cudaMemcpy(out->data(), b.ptr, sizeof(float) * b.n, cudaMemcpyDeviceToHost),
                                "copying a result to the host");
  }
  return Status{};
}

Status compare(const char* op, const char* tensor, const Buffer& fast, const Buffer& ref, double tolerance,
               CheckReport* report) {
  std::vector<float> a, r;
  NATTEN_RETURN_IF_ERROR(to_host(fast, &a));
  NATTEN_RETURN_IF_ERROR(to_host(ref, &r));
  CheckResult c;
  c.op = op;
  c.tensor = tensor;
  c.elems = ref.n;
  c.tolerance = tolerance;
  double diff2 = 0, ref2 = 0;
  for (int64_t i = 0; i < ref.n; i++) {
    const double x = a[i], y = r[i];
    if (std::isnan(y)) {
      continue;
    }
    if (std::isinf(y) || !std::isfinite(x)) {
      c.bad += x == y ? 0 : 1;
      continue;
    }
    diff2 += (x - y) * (x - y);
    ref2 += y * y;
    c.max_abs = std::max(c.max_abs, std::fabs(x - y));
  }
  c.rel_err = ref2 > 0 ? std::sqrt(diff2 / ref2) : std::sqrt(diff2);
  c.pass = c.bad == 0 && c.rel_err < tolerance;
  report->results.push_back(c);
  return Status{};
}

struct Timer {
  cudaEvent_t start = nullptr, stop = nullptr;
  Timer() {
    cudaEventCreate(&start);
    cudaEventCreate(&stop);
  }
  ~Timer() {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
  }
  double ms() const {
    float t = 0;
    cudaEventSynchronize(stop);
    cudaEventElapsedTime(&t, start, stop);
    return t;
  }
};

}  // namespace

Status self_check(const NAProblem& p, Precision precision, uint64_t seed, CheckReport* report) {
  cudaStream_t stream = nullptr;
  RunOptions fast, ref;
  fast.precision = precision;
  ref.implementation = Implementation::kReference;
  report->kernels = describe_fused(p, fast);
  const double fused_tol = precision == Precision::kTF32 ? 1e-3 : 1e-5, split_tol = 1e-5;
  const bool extra = p.n_extra > 0;

  Buffer q, k, v, rpb, ek, ev;
  NATTEN_RETURN_IF_ERROR(q.allocate(p.query_elems(), "query"));
  NATTEN_RETURN_IF_ERROR(k.allocate(p.key_elems(), "key"));
  NATTEN_RETURN_IF_ERROR(v.allocate(p.value_elems(), "value"));
  NATTEN_RETURN_IF_ERROR(rpb.allocate(p.rpb_elems(), "rpb"));
  NATTEN_RETURN_IF_ERROR(ek.allocate(p.extra_key_elems(), "extra keys"));
  NATTEN_RETURN_IF_ERROR(ev.allocate(p.extra_value_elems(), "extra values"));
  NATTEN_RETURN_IF_ERROR(fill(q, seed + 1, 1.f, stream));
  NATTEN_RETURN_IF_ERROR(fill(k, seed + 2, 1.f, stream));
  NATTEN_RETURN_IF_ERROR(fill(v, seed + 3, 1.f, stream));
  NATTEN_RETURN_IF_ERROR(fill(rpb, seed + 4, 0.5f, stream));
  NATTEN_RETURN_IF_ERROR(fill(ek, seed + 5, 1.f, stream));
  NATTEN_RETURN_IF_ERROR(fill(ev, seed + 6, 1.f, stream));

  // Fused forward.
  Buffer out_r, lse_r, out_f, lse_f;
  NATTEN_RETURN_IF_ERROR(out_r.allocate(p.output_elems(), "output"));
  NATTEN_RETURN_IF_ERROR(lse_r.allocate(p.lse_elems(), "logsumexp"));
  NATTEN_RETURN_IF_ERROR(out_f.allocate(p.output_elems(), "output"));
  NATTEN_RETURN_IF_ERROR(lse_f.allocate(p.lse_elems(), "logsumexp"));
  NAForwardArgs fa;
  fa.query = q.ptr;
  fa.key = k.ptr;
  fa.value = v.ptr;
  fa.rpb = p.has_rpb ? rpb.ptr : nullptr;
  fa.extra_key = extra ? ek.ptr : nullptr;
  fa.extra_value = extra ? ev.ptr : nullptr;
  {
    Timer t;
    fa.output = out_r.ptr;
    fa.logsumexp = lse_r.ptr;
    cudaEventRecord(t.start, stream);
    NATTEN_RETURN_IF_ERROR(na_forward(p, fa, ref, stream));
    cudaEventRecord(t.stop, stream);
    report->reference_forward_ms = t.ms();
  }
  {
    Timer t;
    NATTEN_RETURN_IF_ERROR(poison(out_f, stream));
    NATTEN_RETURN_IF_ERROR(poison(lse_f, stream));
    fa.output = out_f.ptr;
    fa.logsumexp = lse_f.ptr;
    cudaEventRecord(t.start, stream);
    NATTEN_RETURN_IF_ERROR(na_forward(p, fa, fast, stream));
    cudaEventRecord(t.stop, stream);
    report->fast_forward_ms = t.ms();
  }
  NATTEN_CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize(), "running the forward");
  NATTEN_RETURN_IF_ERROR(compare("forward", "output", out_f, out_r, fused_tol, report));
  NATTEN_RETURN_IF_ERROR(compare("forward", "logsumexp", lse_f, lse_r, fused_tol, report));

  // Fused backward, both from the reference's output and logsumexp.
  Buffer d_out, d_lse, ws;
  NATTEN_RETURN_IF_ERROR(d_out.allocate(p.output_elems(), "dOutput"));
  NATTEN_RETURN_IF_ERROR(d_lse.allocate(p.lse_elems(), "dLse"));
  NATTEN_RETURN_IF_ERROR(ws.allocate(static_cast<int64_t>(na_backward_workspace_bytes(p) / sizeof(float)), "workspace"));
  NATTEN_RETURN_IF_ERROR(fill(d_out, seed + 7, 1.f, stream));
  NATTEN_RETURN_IF_ERROR(fill(d_lse, seed + 8, 1.f, stream));
  const char* names[6] = {"dQuery", "dKey", "dValue", "dRpb", "dAdditionalKeys", "dAdditionalValues"};
  const int64_t sizes[6] = {p.query_elems(),     p.key_elems(),       p.value_elems(),
                            p.rpb_elems(),       p.extra_key_elems(), p.extra_value_elems()};
  Buffer grads[2][6];
  for (int w = 0; w < 2; w++) {
    for (int i = 0; i < 6; i++) {
      NATTEN_RETURN_IF_ERROR(grads[w][i].allocate(sizes[i], names[i]));
    }
  }
  NABackwardArgs ba;
  ba.query = q.ptr;
  ba.key = k.ptr;
  ba.value = v.ptr;
  ba.rpb = fa.rpb;
  ba.extra_key = fa.extra_key;
  ba.extra_value = fa.extra_value;
  ba.output = out_r.ptr;
  ba.logsumexp = lse_r.ptr;
  ba.d_output = d_out.ptr;
  ba.d_logsumexp = d_lse.ptr;
  for (int w = 0; w < 2; w++) {  // 0: reference, 1: fast
    Timer t;
    for (int i = 0; i < 6; i++) {
      NATTEN_RETURN_IF_ERROR(poison(grads[w][i], stream));
    }
    ba.d_query = grads[w][0].ptr;
    ba.d_key = grads[w][1].ptr;
    ba.d_value = grads[w][2].ptr;
    ba.d_rpb = grads[w][3].ptr;
    ba.d_extra_key = grads[w][4].ptr;
    ba.d_extra_value = grads[w][5].ptr;
    cudaEventRecord(t.start, stream);
    NATTEN_RETURN_IF_ERROR(na_backward(p, ba, w == 0 ? ref : fast, ws.ptr, sizeof(float) * ws.n, stream));
    cudaEventRecord(t.stop, stream);
    (w == 0 ? report->reference_backward_ms : report->fast_backward_ms) = t.ms();
  }
  NATTEN_CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize(), "running the backward");
  for (int i = 0; i < 6; i++) {
    if (sizes[i] > 0) {
      NATTEN_RETURN_IF_ERROR(compare("backward", names[i], grads[1][i], grads[0][i], fused_tol, report));
    }
  }

  // Split QK forward and backward.
  Buffer logits[2], d_logits;
  NATTEN_RETURN_IF_ERROR(logits[0].allocate(p.weights_elems(), "logits"));
  NATTEN_RETURN_IF_ERROR(logits[1].allocate(p.weights_elems(), "logits"));
  NATTEN_RETURN_IF_ERROR(d_logits.allocate(p.weights_elems(), "dLogits"));
  NATTEN_RETURN_IF_ERROR(fill(d_logits, seed + 9, 1.f, stream));
  const char* qk_names[4] = {"dQuery", "dKey", "dRpb", "dAdditionalKeys"};
  const int64_t qk_sizes[4] = {p.query_elems(), p.key_elems(), p.rpb_elems(), p.extra_key_elems()};
  Buffer qk_grads[2][4];
  for (int w = 0; w < 2; w++) {
    NATTEN_RETURN_IF_ERROR(poison(logits[w], stream));
    QKForwardArgs a;
    a.query = q.ptr;
    a.key = k.ptr;
    a.rpb = fa.rpb;
    a.extra_key = fa.extra_key;
    a.logits = logits[w].ptr;
    NATTEN_RETURN_IF_ERROR(qk_forward(p, a, w == 0 ? ref : fast, stream));
    for (int i = 0; i < 4; i++) {
      NATTEN_RETURN_IF_ERROR(qk_grads[w][i].allocate(qk_sizes[i], qk_names[i]));
      NATTEN_RETURN_IF_ERROR(poison(qk_grads[w][i], stream));
    }
    QKBackwardArgs g;
    g.query = q.ptr;
    g.key = k.ptr;
    g.extra_key = fa.extra_key;
    g.d_logits = d_logits.ptr;
    g.d_query = qk_grads[w][0].ptr;
    g.d_key = qk_grads[w][1].ptr;
    g.d_rpb = qk_grads[w][2].ptr;
    g.d_extra_key = qk_grads[w][3].ptr;
    NATTEN_RETURN_IF_ERROR(qk_backward(p, g, w == 0 ? ref : fast, stream));
  }
  NATTEN_CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize(), "running the split QK op");
  NATTEN_RETURN_IF_ERROR(compare("qk forward", "logits", logits[1], logits[0], split_tol, report));
  for (int i = 0; i < 4; i++) {
    if (qk_sizes[i] > 0) {
      NATTEN_RETURN_IF_ERROR(compare("qk backward", qk_names[i], qk_grads[1][i], qk_grads[0][i], split_tol, report));
    }
  }

  // Split AV forward and backward (the weights: the same random values as dLogits).
  NAProblem pv = p;
  pv.head_dim = p.head_dim_v;
  Buffer av_out[2], av_grads[2][3];
  const char* av_names[3] = {"dWeights", "dValue", "dAdditionalValues"};
  const int64_t av_sizes[3] = {pv.weights_elems(), pv.value_elems(), pv.extra_value_elems()};
  for (int w = 0; w < 2; w++) {
    NATTEN_RETURN_IF_ERROR(av_out[w].allocate(pv.output_elems(), "av output"));
    NATTEN_RETURN_IF_ERROR(poison(av_out[w], stream));
    AVForwardArgs a;
    a.weights = d_logits.ptr;
    a.value = v.ptr;
    a.extra_value = fa.extra_value;
    a.output = av_out[w].ptr;
    NATTEN_RETURN_IF_ERROR(av_forward(pv, a, w == 0 ? ref : fast, stream));
    for (int i = 0; i < 3; i++) {
      NATTEN_RETURN_IF_ERROR(av_grads[w][i].allocate(av_sizes[i], av_names[i]));
      NATTEN_RETURN_IF_ERROR(poison(av_grads[w][i], stream));
    }
    AVBackwardArgs g;
    g.weights = d_logits.ptr;
    g.value = v.ptr;
    g.extra_value = fa.extra_value;
    g.d_output = d_out.ptr;
    g.d_weights = av_grads[w][0].ptr;
    g.d_value = av_grads[w][1].ptr;
    g.d_extra_value = av_grads[w][2].ptr;
    NATTEN_RETURN_IF_ERROR(av_backward(pv, g, w == 0 ? ref : fast, stream));
  }
  NATTEN_CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize(), "running the split AV op");
  NATTEN_RETURN_IF_ERROR(compare("av forward", "output", av_out[1], av_out[0], split_tol, report));
  for (int i = 0; i < 3; i++) {
    if (av_sizes[i] > 0) {
      NATTEN_RETURN_IF_ERROR(compare("av backward", av_names[i], av_grads[1][i], av_grads[0][i], split_tol, report));
    }
  }
  return Status{};
}

Status benchmark(const NAProblem& p, Precision precision, int warmup, int iters, BenchResult* result) {
  cudaStream_t stream = nullptr;
  RunOptions o;
  o.precision = precision;
  result->kernels = describe_fused(p, o);
  Buffer q, k, v, rpb, ek, ev, out, lse, d_out, ws, dq, dk, dv, drpb, dek, dev;
  NATTEN_RETURN_IF_ERROR(q.allocate(p.query_elems(), "query"));
  NATTEN_RETURN_IF_ERROR(k.allocate(p.key_elems(), "key"));
  NATTEN_RETURN_IF_ERROR(v.allocate(p.value_elems(), "value"));
  NATTEN_RETURN_IF_ERROR(rpb.allocate(p.rpb_elems(), "rpb"));
  NATTEN_RETURN_IF_ERROR(ek.allocate(p.extra_key_elems(), "extra keys"));
  NATTEN_RETURN_IF_ERROR(ev.allocate(p.extra_value_elems(), "extra values"));
  NATTEN_RETURN_IF_ERROR(out.allocate(p.output_elems(), "output"));
  NATTEN_RETURN_IF_ERROR(lse.allocate(p.lse_elems(), "logsumexp"));
  NATTEN_RETURN_IF_ERROR(d_out.allocate(p.output_elems(), "dOutput"));
  NATTEN_RETURN_IF_ERROR(ws.allocate(static_cast<int64_t>(na_backward_workspace_bytes(p) / sizeof(float)), "workspace"));
  NATTEN_RETURN_IF_ERROR(dq.allocate(p.query_elems(), "dQuery"));
  NATTEN_RETURN_IF_ERROR(dk.allocate(p.key_elems(), "dKey"));
  NATTEN_RETURN_IF_ERROR(dv.allocate(p.value_elems(), "dValue"));
  NATTEN_RETURN_IF_ERROR(drpb.allocate(p.rpb_elems(), "dRpb"));
  NATTEN_RETURN_IF_ERROR(dek.allocate(p.extra_key_elems(), "dExtraKeys"));
  NATTEN_RETURN_IF_ERROR(dev.allocate(p.extra_value_elems(), "dExtraValues"));
  Buffer* inputs[] = {&q, &k, &v, &rpb, &ek, &ev, &d_out};
  for (int i = 0; i < 7; i++) {
    NATTEN_RETURN_IF_ERROR(fill(*inputs[i], 100 + i, i == 3 ? 0.5f : 1.f, stream));
  }
  NAForwardArgs fa;
  fa.query = q.ptr;
  fa.key = k.ptr;
  fa.value = v.ptr;
  fa.rpb = p.has_rpb ? rpb.ptr : nullptr;
  fa.extra_key = p.n_extra > 0 ? ek.ptr : nullptr;
  fa.extra_value = p.n_extra > 0 ? ev.ptr : nullptr;
  fa.output = out.ptr;
  fa.logsumexp = lse.ptr;
  NABackwardArgs ba;
  ba.query = q.ptr;
  ba.key = k.ptr;
  ba.value = v.ptr;
  ba.rpb = fa.rpb;
  ba.extra_key = fa.extra_key;
  ba.extra_value = fa.extra_value;
  ba.output = out.ptr;
  ba.logsumexp = lse.ptr;
  ba.d_output = d_out.ptr;
  ba.d_query = dq.ptr;
  ba.d_key = dk.ptr;
  ba.d_value = dv.ptr;
  ba.d_rpb = drpb.ptr;
  ba.d_extra_key = dek.ptr;
  ba.d_extra_value = dev.ptr;
  auto median_ms = [&](bool backward, double* ms) -> Status {
    std::vector<double> times;
    for (int i = 0; i < warmup + iters; i++) {
      Timer t;
      cudaEventRecord(t.start, stream);
      NATTEN_RETURN_IF_ERROR(na_forward(p, fa, o, stream));
      if (backward) {
        NATTEN_RETURN_IF_ERROR(na_backward(p, ba, o, ws.ptr, sizeof(float) * ws.n, stream));
      }
      cudaEventRecord(t.stop, stream);
      const double elapsed = t.ms();
      NATTEN_CUDA_RETURN_IF_ERROR(cudaGetLastError(), "timing the fused op");
      if (i >= warmup) {
        times.push_back(elapsed);
      }
    }
    std::sort(times.begin(), times.end());
    *ms = times.empty() ? 0 : times[times.size() / 2];
    return Status{};
  };
  NATTEN_RETURN_IF_ERROR(median_ms(false, &result->forward_ms));
  NATTEN_RETURN_IF_ERROR(median_ms(true, &result->forward_backward_ms));
  NATTEN_CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize(), "finishing the benchmark");
  return Status{};
}

#define NATTEN_STRINGIFY2(x) #x
#define NATTEN_STRINGIFY(x) NATTEN_STRINGIFY2(x)

const char* compiled_archs() {
#if defined(__CUDA_ARCH_LIST__)
  return NATTEN_STRINGIFY(__CUDA_ARCH_LIST__);
#elif defined(NATTEN_EMULATION)
  return "emulated";
#else
  return "unknown";
#endif
}

Status copy_bandwidth(size_t bytes, int iters, double* bytes_per_second) {
  Buffer a, b;
  const int64_t n = static_cast<int64_t>(bytes / sizeof(float));
  NATTEN_RETURN_IF_ERROR(a.allocate(n, "copy source"));
  NATTEN_RETURN_IF_ERROR(b.allocate(n, "copy destination"));
  NATTEN_RETURN_IF_ERROR(fill(a, 1, 1.f, nullptr));
  std::vector<double> times;
  for (int i = 0; i < iters + 2; i++) {
    Timer t;
    cudaEventRecord(t.start, nullptr);
    NATTEN_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(b.ptr, a.ptr, sizeof(float) * n, cudaMemcpyDeviceToDevice, nullptr),
                                "device copy");
    cudaEventRecord(t.stop, nullptr);
    const double ms = t.ms();
    if (i >= 2) {
      times.push_back(ms);
    }
  }
  std::sort(times.begin(), times.end());
  const double ms = times[times.size() / 2];
  *bytes_per_second = ms > 0 ? 2.0 * sizeof(float) * n / (ms * 1e-3) : 0;
  return Status{};
}

}  // namespace tools
}  // namespace cuda
}  // namespace natten
