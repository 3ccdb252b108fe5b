// natten_cpu: the native CPU kernels as a Node addon (node-addon-api). Every kernel takes the problem's
// geometry as an Int32Array and reads and writes the Float32Arrays it is given in place: no copies.
// src/kernels/cpu/na_native.ts is its only caller; it checks arguments again here (lengths against the
// geometry, the geometry's own rules) because a wrong length would read or write out of bounds.
#include <napi.h>

#include <new>
#include <string>

#include "na_cpu.h"

namespace {

using natten::cpu::Problem;

// Geometry layout: batch, length[3], kernel[3], stride[3], dilation[3], causal[3], heads, headsKv, headDim,
// headDimV, nExtra, hasRpb (axes padded to three like NAInfo).
constexpr size_t kGeometryLength = 22;

struct Call {
  const Napi::CallbackInfo& info;
  const char* name;

  [[noreturn]] void fail(const std::string& message) const {
    throw Napi::Error::New(info.Env(), std::string("natten_cpu.") + name + ": " + message);
  }

  Problem problem(size_t index, float scale) const {
    if (!info[index].IsTypedArray() || info[index].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
      fail("argument " + std::to_string(index) + " (geometry) must be an Int32Array");
    }
    const Napi::Int32Array g = info[index].As<Napi::Int32Array>();
    if (g.ElementLength() != kGeometryLength) {
      fail("geometry must have " + std::to_string(kGeometryLength) + " entries, got " +
           std::to_string(g.ElementLength()));
    }
    Problem p;
    p.batch = g[0];
    for (int a = 0; a < 3; ++a) {
      p.length[a] = g[1 + a];
      p.kernel[a] = g[4 + a];
      p.stride[a] = g[7 + a];
      p.dilation[a] = g[10 + a];
      p.causal[a] = g[13 + a] != 0;
    }
    p.heads = g[16];
    p.heads_kv = g[17];
    p.head_dim = g[18];
    p.head_dim_v = g[19];
    p.n_extra = g[20];
    p.has_rpb = g[21] != 0;
    p.scale = scale;
    const std::string error = natten::cpu::validate(p);
    if (!error.empty()) {
      fail(error);
    }
    return p;
  }

  float number(size_t index, const char* what) const {
    if (!info[index].IsNumber()) {
      fail(std::string(what) + " must be a number");
    }
    return info[index].As<Napi::Number>().FloatValue();
  }

  // The Float32Array at `index`, which must have `length` elements; null when `length` is 0 and the
  // argument is null or undefined.
  float* array(size_t index, const char* what, int64_t length) const {
    const Napi::Value v = info[index];
    if (length == 0 && (v.IsNull() || v.IsUndefined())) {
      return nullptr;
    }
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
      fail(std::string(what) + " must be a Float32Array" + (length == 0 ? " or null" : ""));
    }
    Napi::Float32Array a = v.As<Napi::Float32Array>();
    if (static_cast<int64_t>(a.ElementLength()) != length) {
      fail(std::string(what) + " has " + std::to_string(a.ElementLength()) + " elements, expected " +
           std::to_string(length));
    }
    return a.Data();
  }

  // An optional array of `length` elements: null where absent (null or undefined), else as array().
  float* optional_array(size_t index, const char* what, int64_t length) const {
    const Napi::Value v = info[index];
    return v.IsNull() || v.IsUndefined() ? nullptr : array(index, what, length);
  }

  // Runs a kernel, turning allocation failures into JavaScript errors naming the call.
  template <class F>
  void run(F&& f) const {
    try {
      f();
    } catch (const std::bad_alloc&) {
      fail("out of memory for the workspace");
    }
  }
};

// naForward(geometry, scale, query, key, value, rpb, additionalKeys, additionalValues, output, logsumexp[, weights]):
// returns whether it kept the attention weights in `weights` (keptWeightsLength(geometry) floats, or null) for
// naBackward.
Napi::Value NaForward(const Napi::CallbackInfo& info) {
  const Call c{info, "naForward"};
  const Problem p = c.problem(0, c.number(1, "scale"));
  const float* q = c.array(2, "query", p.query_elems());
  const float* k = c.array(3, "key", p.key_elems());
  const float* v = c.array(4, "value", p.value_elems());
  const float* rpb = c.array(5, "rpb", p.rpb_elems());
  const float* ek = c.array(6, "additionalKeys", p.extra_key_elems());
  const float* ev = c.array(7, "additionalValues", p.extra_value_elems());
  float* out = c.array(8, "output", p.output_elems());
  float* lse = c.array(9, "logsumexp", p.lse_elems());
  const int64_t wn = natten::cpu::kept_weights_length(p);
  float* weights = c.optional_array(10, "weights", wn);
  bool kept = false;
  c.run([&] { kept = natten::cpu::na_forward(p, q, k, v, rpb, ek, ev, out, lse, weights, wn); });
  return Napi::Boolean::New(info.Env(), kept);
}

void NaBackward(const Napi::CallbackInfo& info) {
  const Call c{info, "naBackward"};
  const Problem p = c.problem(0, c.number(1, "scale"));
  const float* q = c.array(2, "query", p.query_elems());
  const float* k = c.array(3, "key", p.key_elems());
  const float* v = c.array(4, "value", p.value_elems());
  const float* rpb = c.array(5, "rpb", p.rpb_elems());
  const float* ek = c.array(6, "additionalKeys", p.extra_key_elems());
  const float* ev = c.array(7, "additionalValues", p.extra_value_elems());
  const float* out = c.array(8, "output", p.output_elems());
  const float* lse = c.array(9, "logsumexp", p.lse_elems());
  const float* d_out = c.array(10, "dOutput", p.output_elems());
  const float* d_lse = info[11].IsNull() || info[11].IsUndefined() ? nullptr : c.array(11, "dLse", p.lse_elems());
  float* dq = c.array(12, "dQuery", p.query_elems());
  float* dk = c.array(13, "dKey", p.key_elems());
  float* dv = c.array(14, "dValue", p.value_elems());
  float* drpb = c.array(15, "dRpb", p.rpb_elems());
  float* dek = c.array(16, "dAdditionalKeys", p.extra_key_elems());
  float* dev = c.array(17, "dAdditionalValues", p.extra_value_elems());
  const int64_t wn = natten::cpu::kept_weights_length(p);
  const float* weights = c.optional_array(18, "weights", wn);
  c.run([&] {
    natten::cpu::na_backward(p, q, k, v, rpb, ek, ev, out, lse, d_out, d_lse, dq, dk, dv, drpb, dek, dev, weights,
                             wn);
  });
}

void QkForward(const Napi::CallbackInfo& info) {
  const Call c{info, "qkForward"};
  const Problem p = c.problem(0, c.number(1, "scale"));
  const float* q = c.array(2, "query", p.query_elems());
  const float* k = c.array(3, "key", p.key_elems());
  const float* rpb = c.array(4, "rpb", p.rpb_elems());
  const float* ek = c.array(5, "additionalKeys", p.extra_key_elems());
  float* logits = c.array(6, "logits", p.weights_elems());
  c.run([&] { natten::cpu::qk_forward(p, q, k, rpb, ek, logits); });
}

void QkBackward(const Napi::CallbackInfo& info) {
  const Call c{info, "qkBackward"};
  const Problem p = c.problem(0, c.number(1, "scale"));
  const float* q = c.array(2, "query", p.query_elems());
  const float* k = c.array(3, "key", p.key_elems());
  const float* ek = c.array(4, "additionalKeys", p.extra_key_elems());
  const float* d_logits = c.array(5, "dLogits", p.weights_elems());
  float* dq = c.array(6, "dQuery", p.query_elems());
  float* dk = c.array(7, "dKey", p.key_elems());
  float* drpb = c.array(8, "dRpb", p.rpb_elems());
  float* dek = c.array(9, "dAdditionalKeys", p.extra_key_elems());
  c.run([&] { natten::cpu::qk_backward(p, q, k, ek, d_logits, dq, dk, drpb, dek); });
}

void AvForward(const Napi::CallbackInfo& info) {
  const Call c{info, "avForward"};
  const Problem p = c.problem(0, 1.0f);
  const float* w = c.array(1, "weights", p.weights_elems());
  const float* v = c.array(2, "value", p.value_elems());
  const float* ev = c.array(3, "additionalValues", p.extra_value_elems());
  float* out = c.array(4, "output", p.output_elems());
  c.run([&] { natten::cpu::av_forward(p, w, v, ev, out); });
}

void AvBackward(const Napi::CallbackInfo& info) {
  const Call c{info, "avBackward"};
  const Problem p = c.problem(0, 1.0f);
  const float* w = c.array(1, "weights", p.weights_elems());
  const float* v = c.array(2, "value", p.value_elems());
  const float* ev = c.array(3, "additionalValues", p.extra_value_elems());
  const float* d_out = c.array(4, "dOutput", p.output_elems());
  float* dw = c.array(5, "dWeights", p.weights_elems());
  float* dv = c.array(6, "dValue", p.value_elems());
  float* dev = c.array(7, "dAdditionalValues", p.extra_value_elems());
  c.run([&] { natten::cpu::av_backward(p, w, v, ev, d_out, dw, dv, dev); });
}

// setIsa('auto' | 'avx512zmm' | 'avx512' | 'avx2' | 'portable'): false when AVX-512 or AVX2 is asked for and the
// CPU lacks it.
Napi::Value SetIsa(const Napi::CallbackInfo& info) {
  const std::string name = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  natten::cpu::Isa isa;
  if (name == "auto") {
    isa = natten::cpu::Isa::kAuto;
  } else if (name == "avx512zmm") {
    isa = natten::cpu::Isa::kAvx512Zmm;
  } else if (name == "avx512") {
    isa = natten::cpu::Isa::kAvx512;
  } else if (name == "avx2") {
    isa = natten::cpu::Isa::kAvx2;
  } else if (name == "portable") {
    isa = natten::cpu::Isa::kPortable;
  } else {
    throw Napi::Error::New(info.Env(),
                           "natten_cpu.setIsa: expected 'auto', 'avx512zmm', 'avx512', 'avx2' or 'portable', got '" +
                               name + "'");
  }
  return Napi::Boolean::New(info.Env(), natten::cpu::set_isa(isa));
}

// setBlockedBackward(on): the fused backward's blocked kernel on (the default) or off.
void SetBlockedBackward(const Napi::CallbackInfo& info) {
  if (!info[0].IsBoolean()) {
    throw Napi::Error::New(info.Env(), "natten_cpu.setBlockedBackward: expected a boolean");
  }
  natten::cpu::set_blocked_backward(info[0].As<Napi::Boolean>().Value());
}

// blockedBackward(geometry): whether naBackward takes the blocked kernel for this geometry (finite inputs).
Napi::Value BlockedBackward(const Napi::CallbackInfo& info) {
  const Call c{info, "blockedBackward"};
  return Napi::Boolean::New(info.Env(), natten::cpu::blocked_backward_applies(c.problem(0, 1.0f)));
}

// setBlockedForward(on): the fused forward's blocked kernel on (the default) or off.
void SetBlockedForward(const Napi::CallbackInfo& info) {
  if (!info[0].IsBoolean()) {
    throw Napi::Error::New(info.Env(), "natten_cpu.setBlockedForward: expected a boolean");
  }
  natten::cpu::set_blocked_forward(info[0].As<Napi::Boolean>().Value());
}

// blockedForward(geometry): whether naForward takes the blocked kernel for this geometry (finite values).
Napi::Value BlockedForward(const Napi::CallbackInfo& info) {
  const Call c{info, "blockedForward"};
  return Napi::Boolean::New(info.Env(), natten::cpu::blocked_forward_applies(c.problem(0, 1.0f)));
}

// keptWeightsLength(geometry): floats of the attention weights naForward can keep for naBackward (0: none).
Napi::Value KeptWeightsLength(const Napi::CallbackInfo& info) {
  const Call c{info, "keptWeightsLength"};
  return Napi::Number::New(info.Env(), static_cast<double>(natten::cpu::kept_weights_length(c.problem(0, 1.0f))));
}

Napi::Value GetIsa(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), natten::cpu::isa_name(natten::cpu::active_isa()));
}

Napi::Value CpuHasAvx2(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), natten::cpu::cpu_has_avx2());
}

Napi::Value CpuHasAvx512(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), natten::cpu::cpu_has_avx512());
}

// setTileLines(1 | 2): query lines per tile of the blocked backward (2, the default, or 1).
void SetTileLines(const Napi::CallbackInfo& info) {
  if (!info[0].IsNumber() || !natten::cpu::set_tile_lines(info[0].As<Napi::Number>().Int32Value())) {
    throw Napi::Error::New(info.Env(), "natten_cpu.setTileLines: expected 1 or 2");
  }
}

// setNumThreads(n): n threads in all, the caller included; 0 restores the default.
void SetNumThreads(const Napi::CallbackInfo& info) {
  if (!info[0].IsNumber() || info[0].As<Napi::Number>().Int32Value() < 0) {
    throw Napi::Error::New(info.Env(), "natten_cpu.setNumThreads: expected a count >= 0");
  }
  natten::cpu::set_num_threads(info[0].As<Napi::Number>().Int32Value());
}

Napi::Value NumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), natten::cpu::num_threads());
}

// setPoolSpin(us): how long an idle worker checks for the next job before it sleeps (0: at once).
void SetPoolSpin(const Napi::CallbackInfo& info) {
  if (!info[0].IsNumber() || info[0].As<Napi::Number>().DoubleValue() < 0 ||
      info[0].As<Napi::Number>().DoubleValue() > 1e6) {
    throw Napi::Error::New(info.Env(), "natten_cpu.setPoolSpin: expected microseconds from 0 to 1000000");
  }
  natten::cpu::set_pool_spin_us(info[0].As<Napi::Number>().Int64Value());
}

Napi::Value PoolSpin(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(natten::cpu::pool_spin_us()));
}

// output(n): a Float32Array of n elements, uninitialized, whose first element is 64-byte aligned (a view into a
// Node Buffer of 4 n + 60 bytes): the kernels stream whole cache lines of output rows into it (kernels.h,
// store_row). A Buffer from node's allocator is not cleared (Buffer.allocUnsafeSlow's memory).
Napi::Value Output(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const double n = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
  if (!(n >= 0 && n <= 4294967295.0 && n == static_cast<double>(static_cast<int64_t>(n)))) {
    throw Napi::Error::New(env, "natten_cpu.output: expected an element count from 0 to 2^32 - 1");
  }
  const size_t count = static_cast<size_t>(n);
  Napi::Buffer<uint8_t> bytes = Napi::Buffer<uint8_t>::New(env, 4 * count + 60);
  const uintptr_t at = reinterpret_cast<uintptr_t>(bytes.Data());
  const size_t offset = (64 - at % 64) % 64;
  if (offset % 4 != 0) {
    throw Napi::Error::New(env, "natten_cpu.output: the allocator returned memory not aligned to 4 bytes");
  }
  return Napi::Float32Array::New(env, count, bytes.ArrayBuffer(), bytes.ByteOffset() + offset);
}

// measureClock(): {addChainGhz, fmaChainGhz} (see clock.cc); takes about a quarter of a second.
Napi::Value MeasureClock(const Napi::CallbackInfo& info) {
  const natten::cpu::Clock c = natten::cpu::measure_clock();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("addChainGhz", Napi::Number::New(info.Env(), c.add_chain_ghz));
  o.Set("fmaChainGhz", Napi::Number::New(info.Env(), c.fma_chain_ghz));
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("naForward", Napi::Function::New(env, NaForward));
  exports.Set("naBackward", Napi::Function::New(env, NaBackward));
  exports.Set("qkForward", Napi::Function::New(env, QkForward));
  exports.Set("qkBackward", Napi::Function::New(env, QkBackward));
  exports.Set("avForward", Napi::Function::New(env, AvForward));
  exports.Set("avBackward", Napi::Function::New(env, AvBackward));
  exports.Set("setIsa", Napi::Function::New(env, SetIsa));
  exports.Set("isa", Napi::Function::New(env, GetIsa));
  exports.Set("setBlockedBackward", Napi::Function::New(env, SetBlockedBackward));
  exports.Set("blockedBackward", Napi::Function::New(env, BlockedBackward));
  exports.Set("setBlockedForward", Napi::Function::New(env, SetBlockedForward));
  exports.Set("blockedForward", Napi::Function::New(env, BlockedForward));
  exports.Set("keptWeightsLength", Napi::Function::New(env, KeptWeightsLength));
  exports.Set("cpuHasAvx2", Napi::Function::New(env, CpuHasAvx2));
  exports.Set("cpuHasAvx512", Napi::Function::New(env, CpuHasAvx512));
  exports.Set("setTileLines", Napi::Function::New(env, SetTileLines));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads));
  exports.Set("numThreads", Napi::Function::New(env, NumThreads));
  exports.Set("setPoolSpin", Napi::Function::New(env, SetPoolSpin));
  exports.Set("poolSpin", Napi::Function::New(env, PoolSpin));
  exports.Set("measureClock", Napi::Function::New(env, MeasureClock));
  exports.Set("output", Napi::Function::New(env, Output));
  exports.Set("geometryLength", Napi::Number::New(env, kGeometryLength));
  return exports;
}

}  // namespace

NODE_API_MODULE(natten_cpu, Init)
