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

// The fused op's tensors on the device: random inputs (seeded), and one set of outputs and gradients per
// implementation compared (0 the reference, 1 the fast kernels).
struct FusedTensors {
  Buffer q, k, v, rpb, ek, ev, d_out, d_lse, ws;
  Buffer out[2], lse[2];
  Buffer grads[2][6];

  static constexpr const char* kGradNames[6] = {"dQuery", "dKey", "dValue", "dRpb", "dAdditionalKeys",
                                                "dAdditionalValues"};

  Status allocate(const NAProblem& p, uint64_t seed, int sets, cudaStream_t stream) {
    Buffer* inputs[] = {&q, &k, &v, &rpb, &ek, &ev, &d_out, &d_lse};
    const int64_t sizes[] = {p.query_elems(), p.key_elems(),       p.value_elems(),       p.rpb_elems(),
                             p.extra_key_elems(), p.extra_value_elems(), p.output_elems(), p.lse_elems()};
    for (int i = 0; i < 8; i++) {
      NATTEN_RETURN_IF_ERROR(inputs[i]->allocate(sizes[i], "an input"));
      NATTEN_RETURN_IF_ERROR(fill(*inputs[i], seed + i, i == 3 ? 0.5f : 1.f, stream));
    }
    NATTEN_RETURN_IF_ERROR(ws.allocate(static_cast<int64_t>(na_backward_workspace_bytes(p) / sizeof(float)), "workspace"));
    const int64_t grad_sizes[6] = {p.query_elems(), p.key_elems(),       p.value_elems(),
                                   p.rpb_elems(),   p.extra_key_elems(), p.extra_value_elems()};
    for (int w = 0; w < sets; w++) {
      NATTEN_RETURN_IF_ERROR(out[w].allocate(p.output_elems(), "output"));
      NATTEN_RETURN_IF_ERROR(lse[w].allocate(p.lse_elems(), "logsumexp"));
      for (int i = 0; i < 6; i++) {
        NATTEN_RETURN_IF_ERROR(grads[w][i].allocate(grad_sizes[i], kGradNames[i]));
      }
    }
    return Status{};
  }

  NAForwardArgs forward(const NAProblem& p, int w) const {
    NAForwardArgs a;
    a.query = q.ptr;
    a.key = k.ptr;
    a.value = v.ptr;
    a.rpb = p.has_rpb ? rpb.ptr : nullptr;
    a.extra_key = p.n_extra > 0 ? ek.ptr : nullptr;
    a.extra_value = p.n_extra > 0 ? ev.ptr : nullptr;
    a.output = out[w].ptr;
    a.logsumexp = lse[w].ptr;
    return a;
  }

  // The backward of set w, from the output and logsumexp of set `from`.
  NABackwardArgs backward(const NAProblem& p, int w, int from) const {
    const NAForwardArgs f = forward(p, from);
    NABackwardArgs a;
    a.query = f.query;
    a.key = f.key;
    a.value = f.value;
    a.rpb = f.rpb;
    a.extra_key = f.extra_key;
    a.extra_value = f.extra_value;
    a.output = f.output;
    a.logsumexp = f.logsumexp;
    a.d_output = d_out.ptr;
    a.d_logsumexp = d_lse.ptr;
    a.d_query = grads[w][0].ptr;
    a.d_key = grads[w][1].ptr;
    a.d_value = grads[w][2].ptr;
    a.d_rpb = grads[w][3].ptr;
    a.d_extra_key = grads[w][4].ptr;
    a.d_extra_value = grads[w][5].ptr;
    return a;
  }

  Status poison_outputs(int w, cudaStream_t stream) {
    NATTEN_RETURN_IF_ERROR(poison(out[w], stream));
    NATTEN_RETURN_IF_ERROR(poison(lse[w], stream));
    for (int i = 0; i < 6; i++) {
      NATTEN_RETURN_IF_ERROR(poison(grads[w][i], stream));
    }
    return Status{};
  }
};

// Runs `fn` between two events and returns the elapsed milliseconds in `ms`.
template <class F>
Status timed(cudaStream_t stream, double* ms, F fn) {
  Timer t;
  cudaEventRecord(t.start, stream);
  NATTEN_RETURN_IF_ERROR(fn());
  cudaEventRecord(t.stop, stream);
  *ms = t.ms();
  return Status{};
}

}  // namespace

Status self_check(const NAProblem& p, const RunOptions& fast, uint64_t seed, CheckReport* report, bool forward_only) {
  cudaStream_t stream = nullptr;
  const Precision precision = fast.precision;
  RunOptions ref;
  ref.implementation = Implementation::kReference;
  const RunOptions options[2] = {ref, fast};
  report->kernels = describe_fused(p, fast);
  const double fused_tol = precision == Precision::kTF32 ? 1e-3 : 1e-5, split_tol = 1e-5;

  // Fused forward, then the backward of both implementations from the reference's output and logsumexp.
  FusedTensors t;
  NATTEN_RETURN_IF_ERROR(t.allocate(p, seed, 2, stream));
  double* forward_ms[2] = {&report->reference_forward_ms, &report->fast_forward_ms};
  double* backward_ms[2] = {&report->reference_backward_ms, &report->fast_backward_ms};
  for (int w = 0; w < 2; w++) {
    NATTEN_RETURN_IF_ERROR(t.poison_outputs(w, stream));
    NATTEN_RETURN_IF_ERROR(timed(stream, forward_ms[w], [&] { return na_forward(p, t.forward(p, w), options[w], stream); }));
    if (forward_only) {
      continue;
    }
    NATTEN_RETURN_IF_ERROR(timed(stream, backward_ms[w], [&] {
      return na_backward(p, t.backward(p, w, 0), options[w], t.ws.ptr, sizeof(float) * t.ws.n, stream);
    }));
  }
  NATTEN_CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize(), "running the fused op");
  NATTEN_RETURN_IF_ERROR(compare("forward", "output", t.out[1], t.out[0], fused_tol, report));
  NATTEN_RETURN_IF_ERROR(compare("forward", "logsumexp", t.lse[1], t.lse[0], fused_tol, report));
  if (forward_only) {
    return Status{};
  }
  for (int i = 0; i < 6; i++) {
    if (t.grads[0][i].n > 0) {
      NATTEN_RETURN_IF_ERROR(compare("backward", FusedTensors::kGradNames[i], t.grads[1][i], t.grads[0][i], fused_tol,
                                     report));
    }
  }

  // Split QK forward and backward (the upstream gradient: random values, masked slots included).
  Buffer logits[2], d_logits;
  NATTEN_RETURN_IF_ERROR(d_logits.allocate(p.weights_elems(), "dLogits"));
  NATTEN_RETURN_IF_ERROR(fill(d_logits, seed + 9, 1.f, stream));
  const char* qk_names[4] = {"dQuery", "dKey", "dRpb", "dAdditionalKeys"};
  Buffer qk_grads[2][4];
  for (int w = 0; w < 2; w++) {
    NATTEN_RETURN_IF_ERROR(logits[w].allocate(p.weights_elems(), "logits"));
    NATTEN_RETURN_IF_ERROR(poison(logits[w], stream));
    QKForwardArgs a;
    a.query = t.q.ptr;
    a.key = t.k.ptr;
    a.rpb = p.has_rpb ? t.rpb.ptr : nullptr;
    a.extra_key = p.n_extra > 0 ? t.ek.ptr : nullptr;
    a.logits = logits[w].ptr;
    NATTEN_RETURN_IF_ERROR(qk_forward(p, a, options[w], stream));
    const int64_t sizes[4] = {p.query_elems(), p.key_elems(), p.rpb_elems(), p.extra_key_elems()};
    for (int i = 0; i < 4; i++) {
      NATTEN_RETURN_IF_ERROR(qk_grads[w][i].allocate(sizes[i], qk_names[i]));
      NATTEN_RETURN_IF_ERROR(poison(qk_grads[w][i], stream));
    }
    QKBackwardArgs g;
    g.query = a.query;
    g.key = a.key;
    g.extra_key = a.extra_key;
    g.d_logits = d_logits.ptr;
    g.d_query = qk_grads[w][0].ptr;
    g.d_key = qk_grads[w][1].ptr;
    g.d_rpb = qk_grads[w][2].ptr;
    g.d_extra_key = qk_grads[w][3].ptr;
    NATTEN_RETURN_IF_ERROR(qk_backward(p, g, options[w], stream));
  }
  NATTEN_CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize(), "running the split QK op");
  NATTEN_RETURN_IF_ERROR(compare("qk forward", "logits", logits[1], logits[0], split_tol, report));
  for (int i = 0; i < 4; i++) {
    if (qk_grads[0][i].n > 0) {
      NATTEN_RETURN_IF_ERROR(compare("qk backward", qk_names[i], qk_grads[1][i], qk_grads[0][i], split_tol, report));
    }
  }

  // Split AV forward and backward (the weights: the same random values as dLogits).
  NAProblem pv = p;
  pv.head_dim = p.head_dim_v;
  const char* av_names[3] = {"dWeights", "dValue", "dAdditionalValues"};
  Buffer av_out[2], av_grads[2][3];
  for (int w = 0; w < 2; w++) {
    NATTEN_RETURN_IF_ERROR(av_out[w].allocate(pv.output_elems(), "av output"));
    NATTEN_RETURN_IF_ERROR(poison(av_out[w], stream));
    AVForwardArgs a;
    a.weights = d_logits.ptr;
    a.value = t.v.ptr;
    a.extra_value = p.n_extra > 0 ? t.ev.ptr : nullptr;
    a.output = av_out[w].ptr;
    NATTEN_RETURN_IF_ERROR(av_forward(pv, a, options[w], stream));
    const int64_t sizes[3] = {pv.weights_elems(), pv.value_elems(), pv.extra_value_elems()};
    for (int i = 0; i < 3; i++) {
      NATTEN_RETURN_IF_ERROR(av_grads[w][i].allocate(sizes[i], av_names[i]));
      NATTEN_RETURN_IF_ERROR(poison(av_grads[w][i], stream));
    }
    AVBackwardArgs g;
    g.weights = a.weights;
    g.value = a.value;
    g.extra_value = a.extra_value;
    g.d_output = t.d_out.ptr;
    g.d_weights = av_grads[w][0].ptr;
    g.d_value = av_grads[w][1].ptr;
    g.d_extra_value = av_grads[w][2].ptr;
    NATTEN_RETURN_IF_ERROR(av_backward(pv, g, options[w], stream));
  }
  NATTEN_CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize(), "running the split AV op");
  NATTEN_RETURN_IF_ERROR(compare("av forward", "output", av_out[1], av_out[0], split_tol, report));
  for (int i = 0; i < 3; i++) {
    if (av_grads[0][i].n > 0) {
      NATTEN_RETURN_IF_ERROR(compare("av backward", av_names[i], av_grads[1][i], av_grads[0][i], split_tol, report));
    }
  }
  return Status{};
}

Status benchmark(const NAProblem& p, const RunOptions& o, int warmup, int iters, BenchResult* result,
                 bool forward_only) {
  cudaStream_t stream = nullptr;
  result->kernels = describe_fused(p, o);
  FusedTensors t;
  NATTEN_RETURN_IF_ERROR(t.allocate(p, 100, 1, stream));
  auto median_ms = [&](bool backward, double* ms) -> Status {
    std::vector<double> times;
    for (int i = 0; i < warmup + iters; i++) {
      double elapsed = 0;
      NATTEN_RETURN_IF_ERROR(timed(stream, &elapsed, [&]() -> Status {
        NATTEN_RETURN_IF_ERROR(na_forward(p, t.forward(p, 0), o, stream));
        return backward ? na_backward(p, t.backward(p, 0, 0), o, t.ws.ptr, sizeof(float) * t.ws.n, stream) : Status{};
      }));
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
  if (!forward_only) {
    NATTEN_RETURN_IF_ERROR(median_ms(true, &result->forward_backward_ms));
  }
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
