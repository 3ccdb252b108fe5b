// The Node-API glue of the natten_cuda addon: converts JavaScript objects and Float32Arrays to the plain
// structs of natten/cuda/host_api.h and back, checks every array's length against the problem, and turns a
// failed Status into a JavaScript Error. No CUDA here beyond the host API.
#include <napi.h>

#include <string>
#include <vector>

#include "natten/cuda/host_api.h"
#include "natten_addon_tools.h"

namespace {

using natten::NAProblem;
using natten::RunOptions;
namespace host = natten::cuda::host;

int int_field(const Napi::Object& o, const char* name, int fallback, bool required = true) {
  const Napi::Value v = o.Get(name);
  if (v.IsUndefined() && !required) {
    return fallback;
  }
  if (!v.IsNumber()) {
    throw Napi::TypeError::New(o.Env(), std::string("natten_cuda: problem.") + name + " must be a number");
  }
  const double d = v.As<Napi::Number>().DoubleValue();
  if (d != static_cast<double>(static_cast<int>(d)) || d < 0) {
    throw Napi::TypeError::New(o.Env(), std::string("natten_cuda: problem.") + name +
                                            " must be a non-negative integer, got " + std::to_string(d));
  }
  return static_cast<int>(d);
}

void axis_field(const Napi::Object& o, const char* name, int (&out)[3]) {
  const Napi::Value v = o.Get(name);
  if (!v.IsArray() || v.As<Napi::Array>().Length() != 3) {
    throw Napi::TypeError::New(o.Env(), std::string("natten_cuda: problem.") + name + " must be an array of 3");
  }
  const Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < 3; i++) {
    const Napi::Value e = a.Get(i);
    if (!e.IsNumber()) {
      throw Napi::TypeError::New(o.Env(), std::string("natten_cuda: problem.") + name + " must hold numbers");
    }
    out[i] = e.As<Napi::Number>().Int32Value();
  }
}

}  // namespace

namespace natten {
namespace addon {

NAProblem problem_from(const Napi::Value& value) {
  if (!value.IsObject()) {
    throw Napi::TypeError::New(value.Env(), "natten_cuda: the problem must be an object");
  }
  const Napi::Object o = value.As<Napi::Object>();
  NAProblem p;
  p.batch = int_field(o, "batch", 1);
  p.heads = int_field(o, "heads", 1);
  p.heads_kv = int_field(o, "headsKv", 1);
  p.head_dim = int_field(o, "headDim", 1);
  p.head_dim_v = int_field(o, "headDimV", 1);
  p.n_extra = int_field(o, "nExtra", 0, false);
  axis_field(o, "length", p.length);
  axis_field(o, "kernel", p.kernel);
  axis_field(o, "stride", p.stride);
  axis_field(o, "dilation", p.dilation);
  int causal[3];
  axis_field(o, "causal", causal);
  for (int a = 0; a < 3; a++) {
    p.causal[a] = causal[a] != 0;
  }
  p.has_rpb = o.Get("hasRpb").ToBoolean().Value();
  p.scale = o.Get("scale").IsNumber() ? o.Get("scale").As<Napi::Number>().FloatValue() : 1.f;
  const std::string bad = problem_error(p);
  if (!bad.empty()) {
    throw Napi::RangeError::New(value.Env(), "natten_cuda: " + bad);
  }
  return p;
}

RunOptions options_from(const Napi::Value& value) {
  RunOptions o;
  if (!value.IsObject()) {
    return o;
  }
  const Napi::Object obj = value.As<Napi::Object>();
  const Napi::Value precision = obj.Get("precision");
  if (precision.IsString()) {
    const std::string s = precision.As<Napi::String>().Utf8Value();
    if (s == "float32") {
      o.precision = natten::Precision::kFloat32;
    } else if (s != "tf32") {
      throw Napi::TypeError::New(value.Env(), "natten_cuda: options.precision must be 'tf32' or 'float32', got '" + s + "'");
    }
  }
  const Napi::Value impl = obj.Get("implementation");
  if (impl.IsString()) {
    const std::string s = impl.As<Napi::String>().Utf8Value();
    if (s == "reference") {
      o.implementation = natten::Implementation::kReference;
    } else if (s != "auto") {
      throw Napi::TypeError::New(value.Env(),
                                 "natten_cuda: options.implementation must be 'auto' or 'reference', got '" + s + "'");
    }
  }
  const Napi::Value config = obj.Get("forwardConfig");
  if (config.IsNumber()) {
    o.forward_config = config.As<Napi::Number>().Int32Value();
  }
  return o;
}

}  // namespace addon
}  // namespace natten

namespace {

using natten::addon::options_from;
using natten::addon::problem_from;

// An input array: `inputs[name]`, required or optional, of exactly `size` floats when present.
host::In input(const Napi::Object& inputs, const char* name, int64_t size, bool present) {
  const Napi::Value v = inputs.Get(name);
  if (!present) {
    return host::In{};
  }
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw Napi::TypeError::New(inputs.Env(), std::string("natten_cuda: inputs.") + name + " must be a Float32Array");
  }
  const Napi::Float32Array a = v.As<Napi::Float32Array>();
  if (static_cast<int64_t>(a.ElementLength()) != size) {
    throw Napi::RangeError::New(inputs.Env(), std::string("natten_cuda: inputs.") + name + " has " +
                                                  std::to_string(a.ElementLength()) + " elements, the problem needs " +
                                                  std::to_string(size));
  }
  return host::In{a.Data(), size};
}

// Output arrays, created here and returned in one object.
struct Outputs {
  Napi::Env env;
  Napi::Object object;
  explicit Outputs(Napi::Env e) : env(e), object(Napi::Object::New(e)) {}
  host::Out add(const char* name, int64_t size, bool present) {
    if (!present) {
      return host::Out{};
    }
    Napi::Float32Array a = Napi::Float32Array::New(env, static_cast<size_t>(size));
    object.Set(name, a);
    return host::Out{a.Data(), size};
  }
};

void check(const Napi::Env& env, const natten::cuda::Status& s) {
  if (!s.ok()) {
    Napi::Error e = Napi::Error::New(env, "CUDA " + s.message);
    e.Set("cudaError", Napi::String::New(env, cudaGetErrorName(s.code)));
    throw e;
  }
}

Napi::Value NaForward(const Napi::CallbackInfo& info) {
  const NAProblem p = problem_from(info[0]);
  const Napi::Object in = info[1].As<Napi::Object>();
  const RunOptions o = options_from(info[2]);
  Outputs out(info.Env());
  const bool extra = p.n_extra > 0;
  const host::In q = input(in, "query", p.query_elems(), true), k = input(in, "key", p.key_elems(), true),
                 v = input(in, "value", p.value_elems(), true), rpb = input(in, "rpb", p.rpb_elems(), p.has_rpb),
                 ek = input(in, "additionalKeys", p.extra_key_elems(), extra),
                 ev = input(in, "additionalValues", p.extra_value_elems(), extra);
  const host::Out output = out.add("output", p.output_elems(), true), lse = out.add("lse", p.lse_elems(), true);
  check(info.Env(), host::na_forward(p, q, k, v, rpb, ek, ev, output, lse, o));
  return out.object;
}

Napi::Value NaBackward(const Napi::CallbackInfo& info) {
  const NAProblem p = problem_from(info[0]);
  const Napi::Object in = info[1].As<Napi::Object>();
  const RunOptions o = options_from(info[2]);
  Outputs out(info.Env());
  const bool extra = p.n_extra > 0;
  const bool has_d_lse = !in.Get("dLse").IsUndefined() && !in.Get("dLse").IsNull();
  const host::In q = input(in, "query", p.query_elems(), true), k = input(in, "key", p.key_elems(), true),
                 v = input(in, "value", p.value_elems(), true), rpb = input(in, "rpb", p.rpb_elems(), p.has_rpb),
                 ek = input(in, "additionalKeys", p.extra_key_elems(), extra),
                 ev = input(in, "additionalValues", p.extra_value_elems(), extra),
                 o_ = input(in, "output", p.output_elems(), true), lse = input(in, "lse", p.lse_elems(), true),
                 d_out = input(in, "dOutput", p.output_elems(), true),
                 d_lse = input(in, "dLse", p.lse_elems(), has_d_lse);
  const host::Out dq = out.add("dQuery", p.query_elems(), true), dk = out.add("dKey", p.key_elems(), true),
                  dv = out.add("dValue", p.value_elems(), true), drpb = out.add("dRpb", p.rpb_elems(), p.has_rpb),
                  dek = out.add("dAdditionalKeys", p.extra_key_elems(), extra),
                  dev = out.add("dAdditionalValues", p.extra_value_elems(), extra);
  check(info.Env(), host::na_backward(p, q, k, v, rpb, ek, ev, o_, lse, d_out, d_lse, dq, dk, dv, drpb, dek, dev, o));
  return out.object;
}

Napi::Value QkForward(const Napi::CallbackInfo& info) {
  const NAProblem p = problem_from(info[0]);
  const Napi::Object in = info[1].As<Napi::Object>();
  const RunOptions o = options_from(info[2]);
  Outputs out(info.Env());
  const host::In q = input(in, "query", p.query_elems(), true), k = input(in, "key", p.key_elems(), true),
                 rpb = input(in, "rpb", p.rpb_elems(), p.has_rpb),
                 ek = input(in, "additionalKeys", p.extra_key_elems(), p.n_extra > 0);
  const host::Out logits = out.add("logits", p.weights_elems(), true);
  check(info.Env(), host::qk_forward(p, q, k, rpb, ek, logits, o));
  return out.object;
}

Napi::Value QkBackward(const Napi::CallbackInfo& info) {
  const NAProblem p = problem_from(info[0]);
  const Napi::Object in = info[1].As<Napi::Object>();
  const RunOptions o = options_from(info[2]);
  Outputs out(info.Env());
  const bool extra = p.n_extra > 0;
  const host::In q = input(in, "query", p.query_elems(), true), k = input(in, "key", p.key_elems(), true),
                 ek = input(in, "additionalKeys", p.extra_key_elems(), extra),
                 dl = input(in, "dLogits", p.weights_elems(), true);
  const host::Out dq = out.add("dQuery", p.query_elems(), true), dk = out.add("dKey", p.key_elems(), true),
                  drpb = out.add("dRpb", p.rpb_elems(), p.has_rpb),
                  dek = out.add("dAdditionalKeys", p.extra_key_elems(), extra);
  check(info.Env(), host::qk_backward(p, q, k, ek, dl, dq, dk, drpb, dek, o));
  return out.object;
}

Napi::Value AvForward(const Napi::CallbackInfo& info) {
  const NAProblem p = problem_from(info[0]);
  const Napi::Object in = info[1].As<Napi::Object>();
  const RunOptions o = options_from(info[2]);
  Outputs out(info.Env());
  const host::In w = input(in, "weights", p.weights_elems(), true), v = input(in, "value", p.value_elems(), true),
                 ev = input(in, "additionalValues", p.extra_value_elems(), p.n_extra > 0);
  const host::Out output = out.add("output", p.output_elems(), true);
  check(info.Env(), host::av_forward(p, w, v, ev, output, o));
  return out.object;
}

Napi::Value AvBackward(const Napi::CallbackInfo& info) {
  const NAProblem p = problem_from(info[0]);
  const Napi::Object in = info[1].As<Napi::Object>();
  const RunOptions o = options_from(info[2]);
  Outputs out(info.Env());
  const bool extra = p.n_extra > 0;
  const host::In w = input(in, "weights", p.weights_elems(), true), v = input(in, "value", p.value_elems(), true),
                 ev = input(in, "additionalValues", p.extra_value_elems(), extra),
                 d_out = input(in, "dOutput", p.output_elems(), true);
  const host::Out dw = out.add("dWeights", p.weights_elems(), true), dv = out.add("dValue", p.value_elems(), true),
                  dev = out.add("dAdditionalValues", p.extra_value_elems(), extra);
  check(info.Env(), host::av_backward(p, w, v, ev, d_out, dw, dv, dev, o));
  return out.object;
}

Napi::Value DeviceStatus(const Napi::CallbackInfo& info) {
  const host::DeviceStatus s = host::device_status();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("driverLoaded", s.driver_loaded);
  o.Set("driverError", s.driver_error);
  o.Set("code", s.code);
  o.Set("codeName", s.code_name);
  o.Set("codeMessage", s.code_message);
  o.Set("deviceCount", s.device_count);
  o.Set("driverVersion", s.driver_version);
  o.Set("runtimeVersion", s.runtime_version);
  o.Set("name", s.name);
  o.Set("computeCapability", std::to_string(s.major) + "." + std::to_string(s.minor));
  o.Set("totalMemory", static_cast<double>(s.total_memory));
  o.Set("multiprocessors", s.multiprocessors);
  o.Set("emulated", s.emulated);
  return o;
}

Napi::Value DescribeFused(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), natten::cuda::describe_fused(problem_from(info[0]), options_from(info[1])));
}

Napi::Value LastTiming(const Napi::CallbackInfo& info) {
  const host::Timing t = host::last_timing();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("h2dMs", t.h2d_ms);
  o.Set("kernelMs", t.kernel_ms);
  o.Set("d2hMs", t.d2h_ms);
  return o;
}

Napi::Value ReservedBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(host::reserved_bytes()));
}

Napi::Value ReleaseMemory(const Napi::CallbackInfo& info) {
  host::release();
  return info.Env().Undefined();
}

Napi::Value FailNextAllocation(const Napi::CallbackInfo& info) {
  host::fail_next_allocation(info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0);
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("naForward", Napi::Function::New(env, NaForward));
  exports.Set("naBackward", Napi::Function::New(env, NaBackward));
  exports.Set("qkForward", Napi::Function::New(env, QkForward));
  exports.Set("qkBackward", Napi::Function::New(env, QkBackward));
  exports.Set("avForward", Napi::Function::New(env, AvForward));
  exports.Set("avBackward", Napi::Function::New(env, AvBackward));
  exports.Set("deviceStatus", Napi::Function::New(env, DeviceStatus));
  exports.Set("describeFused", Napi::Function::New(env, DescribeFused));
  exports.Set("lastTiming", Napi::Function::New(env, LastTiming));
  exports.Set("reservedBytes", Napi::Function::New(env, ReservedBytes));
  exports.Set("releaseMemory", Napi::Function::New(env, ReleaseMemory));
  exports.Set("failNextAllocation", Napi::Function::New(env, FailNextAllocation));
  natten::addon::add_tools(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(natten_cuda, Init)
