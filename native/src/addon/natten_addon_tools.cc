// The addon's problem checks and GPU-check exports (natten_addon_tools.h).
#include "natten_addon_tools.h"

#include "natten/cuda/kernel_traits.h"
#include "natten/cuda/tools.h"

namespace natten {
namespace addon {

// Declared in natten_cuda_addon.cc.
NAProblem problem_from(const Napi::Value& value);
RunOptions options_from(const Napi::Value& value);

std::string problem_error(const NAProblem& p) {
  if (p.batch < 1 || p.heads < 1 || p.heads_kv < 1 || p.head_dim < 1 || p.head_dim_v < 1 || p.n_extra < 0) {
    return "batch, heads, headsKv, headDim and headDimV must be positive and nExtra >= 0";
  }
  if (p.heads % p.heads_kv != 0) {
    return "heads (" + std::to_string(p.heads) + ") must be a multiple of headsKv (" + std::to_string(p.heads_kv) + ")";
  }
  for (int a = 0; a < 3; a++) {
    const std::string axis = "axis " + std::to_string(a) + ": ";
    if (p.length[a] < 1 || p.kernel[a] < 1 || p.dilation[a] < 1) {
      return axis + "length, kernel and dilation must be positive";
    }
    if (static_cast<int64_t>(p.kernel[a]) * p.dilation[a] > p.length[a]) {
      return axis + "kernel * dilation exceeds the length";
    }
    if (p.stride[a] < 1 || p.stride[a] > p.kernel[a]) {
      return axis + "stride must be in [1, kernel]";
    }
  }
  return "";
}

namespace {

bool flag(const Napi::Value& options, const char* name) {
  return options.IsObject() && options.As<Napi::Object>().Get(name).ToBoolean().Value();
}

Napi::Value ForwardConfigs(const Napi::CallbackInfo& info) {
  Napi::Array out = Napi::Array::New(info.Env(), cuda::kForwardConfigCount);
  for (int i = 0; i < cuda::kForwardConfigCount; i++) {
    Napi::Object c = Napi::Object::New(info.Env());
    c.Set("index", i);
    c.Set("warps", cuda::kForwardConfigs[i].warps);
    c.Set("blockN", cuda::kForwardConfigs[i].block_n);
    c.Set("minBlocks", cuda::kForwardConfigs[i].min_blocks);
    c.Set("qInRegisters", cuda::kForwardConfigs[i].q_regs > 0);
    c.Set("lean", cuda::kForwardConfigs[i].lean);
    c.Set("tileByReach", cuda::kForwardConfigs[i].tile_by_reach != 0);
    out.Set(static_cast<uint32_t>(i), c);
  }
  return out;
}

Napi::Value SelfCheck(const Napi::CallbackInfo& info) {
  const NAProblem p = problem_from(info[0]);
  const RunOptions o = options_from(info[1]);
  uint32_t seed = 1;
  if (info[1].IsObject() && info[1].As<Napi::Object>().Get("seed").IsNumber()) {
    seed = info[1].As<Napi::Object>().Get("seed").As<Napi::Number>().Uint32Value();
  }
  const bool forward_only = flag(info[1], "forwardOnly");
  cuda::tools::CheckReport report;
  const cuda::Status s = cuda::tools::self_check(p, o, seed, &report, forward_only);
  if (!s.ok()) {
    throw Napi::Error::New(info.Env(), "CUDA self-check: " + s.message);
  }
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("kernels", report.kernels);
  out.Set("fastForwardMs", report.fast_forward_ms);
  out.Set("referenceForwardMs", report.reference_forward_ms);
  out.Set("fastBackwardMs", report.fast_backward_ms);
  out.Set("referenceBackwardMs", report.reference_backward_ms);
  Napi::Array results = Napi::Array::New(info.Env(), report.results.size());
  for (size_t i = 0; i < report.results.size(); i++) {
    const cuda::tools::CheckResult& c = report.results[i];
    Napi::Object r = Napi::Object::New(info.Env());
    r.Set("op", c.op);
    r.Set("tensor", c.tensor);
    r.Set("relErr", c.rel_err);
    r.Set("maxAbs", c.max_abs);
    r.Set("bad", static_cast<double>(c.bad));
    r.Set("elems", static_cast<double>(c.elems));
    r.Set("tolerance", c.tolerance);
    r.Set("pass", c.pass);
    results.Set(static_cast<uint32_t>(i), r);
  }
  out.Set("results", results);
  return out;
}

Napi::Value Benchmark(const Napi::CallbackInfo& info) {
  const NAProblem p = problem_from(info[0]);
  const RunOptions o = options_from(info[1]);
  int warmup = 3, iters = 10;
  if (info[1].IsObject()) {
    const Napi::Object opts = info[1].As<Napi::Object>();
    if (opts.Get("warmup").IsNumber()) {
      warmup = opts.Get("warmup").As<Napi::Number>().Int32Value();
    }
    if (opts.Get("iters").IsNumber()) {
      iters = opts.Get("iters").As<Napi::Number>().Int32Value();
    }
  }
  cuda::tools::BenchResult r;
  const cuda::Status s = cuda::tools::benchmark(p, o, warmup, iters < 1 ? 1 : iters, &r, flag(info[1], "forwardOnly"));
  if (!s.ok()) {
    throw Napi::Error::New(info.Env(), "CUDA benchmark: " + s.message);
  }
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("forwardMs", r.forward_ms);
  out.Set("forwardBackwardMs", r.forward_backward_ms);
  out.Set("kernels", r.kernels);
  return out;
}

Napi::Value CopyBandwidth(const Napi::CallbackInfo& info) {
  const double bytes = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 1e9;
  const int iters = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 10;
  double bps = 0;
  const cuda::Status s = cuda::tools::copy_bandwidth(static_cast<size_t>(bytes), iters, &bps);
  if (!s.ok()) {
    throw Napi::Error::New(info.Env(), "CUDA copy bandwidth: " + s.message);
  }
  return Napi::Number::New(info.Env(), bps);
}

}  // namespace

void add_tools(Napi::Env env, Napi::Object exports) {
  exports.Set("selfCheck", Napi::Function::New(env, SelfCheck));
  exports.Set("benchmark", Napi::Function::New(env, Benchmark));
  exports.Set("copyBandwidth", Napi::Function::New(env, CopyBandwidth));
  exports.Set("forwardConfigs", Napi::Function::New(env, ForwardConfigs));
  Napi::Object build = Napi::Object::New(env);
#if defined(NATTEN_EMULATION)
  build.Set("emulated", true);
  build.Set("cudaRuntime", 0);
#else
  build.Set("emulated", false);
  build.Set("cudaRuntime", CUDART_VERSION);
#endif
  build.Set("archs", cuda::tools::compiled_archs());
  exports.Set("buildInfo", build);
}

}  // namespace addon
}  // namespace natten
