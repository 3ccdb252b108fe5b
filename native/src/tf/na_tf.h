// NA as TensorFlow ops: the op definitions, the attributes and shape checks every device's kernels share,
// and the device-independent half of each kernel (inputs read, outputs allocated, a natten::cpu::Problem
// built and checked). natten_tf registers the CPU kernels (tf_cpu.cc) and, built with NATTEN_TF_GPU, the
// GPU ones (tf_gpu.cc). See native/src/tf/README.md for the op signatures.
//
// Only TensorFlow's stable C API is used (tensorflow/c/ops.h, kernels.h, tf_tensor.h, tf_status.h), and only
// functions TensorFlow 2.9 already has (README.md lists them): natten_tf links against
// libtensorflow_framework.so.2 alone, with no rpath, and so resolves against the TensorFlow that tfjs-node
// already loaded.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tensorflow/c/kernels.h"
#include "tensorflow/c/tf_status.h"
#include "tensorflow/c/tf_tensor.h"

#include "../cpu/na_cpu.h"

namespace natten {
namespace tf {

// Op names (the same as the tfjs kernel names).
constexpr const char* kNAForward = "NattenNAForward";
constexpr const char* kNABackward = "NattenNABackward";
constexpr const char* kQKForward = "NattenQKForward";
constexpr const char* kQKBackward = "NattenQKBackward";
constexpr const char* kAVForward = "NattenAVForward";
constexpr const char* kAVBackward = "NattenAVBackward";

// Registers the six op definitions (once per process). Returns "" or TensorFlow's error.
std::string register_ops();

// The attributes of one op instance, read when TensorFlow constructs its kernel.
struct Attrs {
  const char* op = "";
  std::vector<int32_t> kernel, stride, dilation;
  std::vector<bool> causal;
  float scale = 1.0f;
  bool has_rpb = false, has_extra = false, has_d_lse = false;
  int32_t n = 0;  // inputs in the `optional` list
  int32_t m = 0;  // outputs in the `d_optional` list
};

// A TF_Tensor owned for the duration of a kernel call (inputs from TF_GetInput, outputs from
// TF_AllocateOutput are both new references).
class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(TF_Tensor* t) : t_(t) {}
  Tensor(Tensor&& o) noexcept : t_(o.t_) { o.t_ = nullptr; }
  Tensor& operator=(Tensor&& o) noexcept;
  Tensor(const Tensor&) = delete;
  Tensor& operator=(const Tensor&) = delete;
  ~Tensor();
  TF_Tensor* get() const { return t_; }
  std::vector<int64_t> dims() const;
  float* data() const { return t_ == nullptr ? nullptr : static_cast<float*>(TF_TensorData(t_)); }

 private:
  TF_Tensor* t_ = nullptr;
};

// One kernel call's tensors, checked against each other and the attributes, with its outputs allocated.
// `error` is set (and nothing allocated) when a check fails; the kernel then reports it and returns.
struct Call {
  natten::cpu::Problem p;
  // Inputs by role (null data when absent).
  Tensor query, key, value, rpb, extra_keys, extra_values, output, lse, d_output, d_lse, weights, d_logits;
  // Outputs by role.
  Tensor out, out_lse, logits, d_query, d_key, d_value, d_rpb, d_extra_keys, d_extra_values, d_weights;
  std::string error;
};

// The device-independent halves of the six kernels: read inputs, check, allocate outputs. On failure they
// call TF_OpKernelContext_Failure and return false.
bool prepare_na_forward(const Attrs& a, TF_OpKernelContext* ctx, Call* c);
bool prepare_na_backward(const Attrs& a, TF_OpKernelContext* ctx, Call* c);
bool prepare_qk_forward(const Attrs& a, TF_OpKernelContext* ctx, Call* c);
bool prepare_qk_backward(const Attrs& a, TF_OpKernelContext* ctx, Call* c);
bool prepare_av_forward(const Attrs& a, TF_OpKernelContext* ctx, Call* c);
bool prepare_av_backward(const Attrs& a, TF_OpKernelContext* ctx, Call* c);

// Kernel construction: reads the attributes of `op` (the create_func of every kernel builder).
void* create_kernel(TF_OpKernelConstruction* ctx, const char* op);
void delete_kernel(void* kernel);

// Reports `message` (prefixed with the op name) as the kernel's failure.
void fail(TF_OpKernelContext* ctx, const char* op, const std::string& message, TF_Code code = TF_INVALID_ARGUMENT);

// Registers the kernels of `device` ("CPU" or "GPU") built from `compute` functions, one per op (in the
// order of the names above). Returns "" or TensorFlow's error.
using ComputeFn = void (*)(void* kernel, TF_OpKernelContext* ctx);
std::string register_kernels(const char* device, const ComputeFn compute[6]);

}  // namespace tf
}  // namespace natten
