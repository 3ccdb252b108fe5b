// The CPU kernels of the NA TensorFlow ops: the native CPU kernels (natten::cpu, threaded, AVX2 where the CPU
// has it) run directly on TensorFlow's tensors, whose buffers are host memory on the CPU device.
#include "tf_cpu.h"

#include <new>

namespace natten {
namespace tf {

namespace {

// Runs `body` on a prepared call, turning an allocation failure in the native kernels into the op's error.
template <class Prepare, class Body>
void run(void* kernel, TF_OpKernelContext* ctx, Prepare prepare, Body body) {
  const Attrs& a = *static_cast<const Attrs*>(kernel);
  Call c;
  if (!prepare(a, ctx, &c)) {
    return;
  }
  try {
    body(c);
  } catch (const std::bad_alloc&) {
    fail(ctx, a.op, "out of memory for the native kernels' workspace", TF_RESOURCE_EXHAUSTED);
  }
}

void na_forward(void* kernel, TF_OpKernelContext* ctx) {
  run(kernel, ctx, prepare_na_forward, [](Call& c) {
    natten::cpu::na_forward(c.p, c.query.data(), c.key.data(), c.value.data(), c.rpb.data(), c.extra_keys.data(),
                            c.extra_values.data(), c.out.data(), c.out_lse.data());
  });
}

void na_backward(void* kernel, TF_OpKernelContext* ctx) {
  run(kernel, ctx, prepare_na_backward, [](Call& c) {
    natten::cpu::na_backward(c.p, c.query.data(), c.key.data(), c.value.data(), c.rpb.data(), c.extra_keys.data(),
                             c.extra_values.data(), c.output.data(), c.lse.data(), c.d_output.data(), c.d_lse.data(),
                             c.d_query.data(), c.d_key.data(), c.d_value.data(), c.d_rpb.data(),
                             c.d_extra_keys.data(), c.d_extra_values.data());
  });
}

void qk_forward(void* kernel, TF_OpKernelContext* ctx) {
  run(kernel, ctx, prepare_qk_forward, [](Call& c) {
    natten::cpu::qk_forward(c.p, c.query.data(), c.key.data(), c.rpb.data(), c.extra_keys.data(), c.logits.data());
  });
}

void qk_backward(void* kernel, TF_OpKernelContext* ctx) {
  run(kernel, ctx, prepare_qk_backward, [](Call& c) {
    natten::cpu::qk_backward(c.p, c.query.data(), c.key.data(), c.extra_keys.data(), c.d_logits.data(),
                             c.d_query.data(), c.d_key.data(), c.d_rpb.data(), c.d_extra_keys.data());
  });
}

void av_forward(void* kernel, TF_OpKernelContext* ctx) {
  run(kernel, ctx, prepare_av_forward, [](Call& c) {
    natten::cpu::av_forward(c.p, c.weights.data(), c.value.data(), c.extra_values.data(), c.out.data());
  });
}

void av_backward(void* kernel, TF_OpKernelContext* ctx) {
  run(kernel, ctx, prepare_av_backward, [](Call& c) {
    natten::cpu::av_backward(c.p, c.weights.data(), c.value.data(), c.extra_values.data(), c.d_output.data(),
                             c.d_weights.data(), c.d_value.data(), c.d_extra_values.data());
  });
}

}  // namespace

std::string register_cpu_kernels() {
  static const ComputeFn compute[6] = {na_forward, na_backward, qk_forward, qk_backward, av_forward, av_backward};
  return register_kernels("CPU", compute);
}

}  // namespace tf
}  // namespace natten
