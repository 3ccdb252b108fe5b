// natten_tf: registers the NA ops and their kernels in the TensorFlow that tfjs-node already loaded, when
// src/kernels/tensorflow/tf_ops.ts loads it (lazily, from the first NA kernel run on the `tensorflow`
// backend). Loaded without TensorFlow in the process it fails to load at all: libtensorflow_framework.so.2 is
// linked without an rpath on purpose, so it can only resolve against the library already loaded.
#include <napi.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "na_tf.h"
#include "tf_cpu.h"
#if defined(NATTEN_TF_GPU)
#include "tf_gpu.h"
#endif

namespace {

struct Registration {
  std::string error;
  bool gpu = false;
};

// Once per process: the op definitions, the CPU kernels, and (built with NATTEN_TF_GPU and asked for with
// the environment variable NATTEN_TF_GPU=1) the GPU kernels.
const Registration& registration() {
  static std::once_flag once;
  static Registration r;
  std::call_once(once, [] {
    r.error = natten::tf::register_ops();
    if (r.error.empty()) {
      r.error = natten::tf::register_cpu_kernels();
    }
#if defined(NATTEN_TF_GPU)
    const char* env = std::getenv("NATTEN_TF_GPU");
    if (r.error.empty() && env != nullptr && std::strcmp(env, "1") == 0) {
      r.error = natten::tf::register_gpu_kernels();
      r.gpu = r.error.empty();
    }
#endif
  });
  return r;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  const Registration& r = registration();
  if (!r.error.empty()) {
    throw Napi::Error::New(env, "natten_tf: " + r.error);
  }
  Napi::Array ops = Napi::Array::New(env);
  const char* names[] = {natten::tf::kNAForward, natten::tf::kNABackward, natten::tf::kQKForward,
                         natten::tf::kQKBackward, natten::tf::kAVForward, natten::tf::kAVBackward};
  for (uint32_t i = 0; i < 6; ++i) {
    ops.Set(i, Napi::String::New(env, names[i]));
  }
  exports.Set("ops", ops);
#if defined(NATTEN_TF_GPU)
  exports.Set("gpuCompiled", Napi::Boolean::New(env, true));
#else
  exports.Set("gpuCompiled", Napi::Boolean::New(env, false));
#endif
  exports.Set("gpuKernels", Napi::Boolean::New(env, r.gpu));
  return exports;
}

}  // namespace

NODE_API_MODULE(natten_tf, Init)
