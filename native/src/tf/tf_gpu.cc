// The GPU kernels of the NA TensorFlow ops (compiled only with NATTEN_TF_GPU: `npm run build:native --
// --tf-gpu`; registered only when the addon loads with NATTEN_TF_GPU=1). They run issue 8's CUDA kernels
// (natten/cuda/api.h) on the device pointers TensorFlow hands its GPU kernels. NOT RUN: no machine available
// to this project has a GPU build of TensorFlow (README.md).
//
// Ordering. TensorFlow runs its GPU ops asynchronously on its own CUDA streams, and the C API gives a kernel
// no stream for an ordinary (non-pluggable) GPU device (TF_GetStream serves pluggable devices only). So each
// call orders the work explicitly:
//  1. cudaDeviceSynchronize: every kernel TensorFlow has queued, on any stream, has finished: the producers
//     of our inputs, and the last users of the memory TensorFlow's allocator just gave our outputs (its
//     stream-ordered reuse assumes one compute stream; ours is another one);
//  2. our kernels on a stream of our own (one per device, made once);
//  3. cudaStreamSynchronize on it before returning: TensorFlow's later ops, queued on its streams, may then
//     read our outputs, and our workspace (a TensorFlow temporary, freed when the kernel returns) is idle.
// The cost: the CPU thread waits for the GPU twice per call, and TensorFlow's queue runs dry at every NA op
// (no overlap of its launches with our kernels): about the time of the work queued before the call, plus two
// synchronizations of some 5-20 microseconds each. Never measured: there was no GPU build of TensorFlow.
#include "tf_gpu.h"

#include <cuda_runtime.h>

#include <mutex>
#include <string>

#include "natten/cuda/api.h"

namespace natten {
namespace tf {

namespace {

std::string cuda_message(cudaError_t e, const char* what) {
  return std::string(what) + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
}

// The device that holds `ptr` (TensorFlow may run the op on any of its GPUs), made current for this thread.
cudaError_t use_device_of(const void* ptr, int* device) {
  cudaPointerAttributes attr;
  cudaError_t e = cudaPointerGetAttributes(&attr, ptr);
  if (e != cudaSuccess) {
    return e;
  }
  *device = attr.device;
  return cudaSetDevice(attr.device);
}

// One stream per device, made once.
cudaError_t stream_for(int device, cudaStream_t* stream) {
  constexpr int kDevices = 64;
  static std::mutex mutex;
  static cudaStream_t streams[kDevices] = {};
  if (device < 0 || device >= kDevices) {
    return cudaErrorInvalidDevice;
  }
  std::lock_guard<std::mutex> lock(mutex);
  if (streams[device] == nullptr) {
    const cudaError_t e = cudaStreamCreateWithFlags(&streams[device], cudaStreamNonBlocking);
    if (e != cudaSuccess) {
      return e;
    }
  }
  *stream = streams[device];
  return cudaSuccess;
}

// Device scratch from TensorFlow's allocator, for the backward kernel.
Tensor workspace(TF_OpKernelContext* ctx, size_t bytes, std::string* error) {
  TF_Status* s = TF_NewStatus();
  int64_t dims[1] = {static_cast<int64_t>((bytes + 3) / 4)};
  TF_AllocatorAttributes attrs;
  attrs.struct_size = TF_ALLOCATOR_ATTRIBUTES_STRUCT_SIZE;
  attrs.on_host = 0;
  TF_Tensor* t = TF_AllocateTemp(ctx, TF_FLOAT, dims, 1, &attrs, s);
  if (TF_GetCode(s) != TF_OK) {
    *error = std::string("allocating the ") + std::to_string(bytes) + "-byte workspace: " + TF_Message(s);
  }
  TF_DeleteStatus(s);
  return Tensor(t);
}

// Runs one op on the GPU: prepare (shared checks, outputs allocated), order, launch, order.
template <class Prepare, class Launch>
void run(void* kernel, TF_OpKernelContext* ctx, Prepare prepare, Launch launch) {
  const Attrs& a = *static_cast<const Attrs*>(kernel);
  Call c;
  if (!prepare(a, ctx, &c)) {
    return;
  }
  const void* any_input = c.query.get() != nullptr ? c.query.data() : c.weights.data();
  int device = 0;
  cudaStream_t stream = nullptr;
  cudaError_t e = use_device_of(any_input, &device);
  if (e == cudaSuccess) e = stream_for(device, &stream);
  if (e == cudaSuccess) e = cudaDeviceSynchronize();  // 1. TensorFlow's queued work
  if (e != cudaSuccess) {
    fail(ctx, a.op, cuda_message(e, "before the kernels"), TF_INTERNAL);
    return;
  }
  std::string error;
  const natten::cuda::Status s = launch(c, ctx, stream, &error);  // 2. ours
  if (!error.empty()) {
    fail(ctx, a.op, error, TF_RESOURCE_EXHAUSTED);
    return;
  }
  e = cudaStreamSynchronize(stream);  // 3. done before TensorFlow's next op
  if (!s.ok()) {
    fail(ctx, a.op, "CUDA kernels: " + s.message, s.code == cudaErrorMemoryAllocation ? TF_RESOURCE_EXHAUSTED : TF_INTERNAL);
  } else if (e != cudaSuccess) {
    fail(ctx, a.op, cuda_message(e, "after the kernels"), TF_INTERNAL);
  }
}

const natten::RunOptions kOptions{};  // TF32 tensor cores, TensorFlow's own default for float32

void na_forward(void* kernel, TF_OpKernelContext* ctx) {
  run(kernel, ctx, prepare_na_forward, [](Call& c, TF_OpKernelContext*, cudaStream_t stream, std::string*) {
    natten::NAForwardArgs g;
    g.query = c.query.data();
    g.key = c.key.data();
    g.value = c.value.data();
    g.rpb = c.rpb.data();
    g.extra_key = c.extra_keys.data();
    g.extra_value = c.extra_values.data();
    g.output = c.out.data();
    g.logsumexp = c.out_lse.data();
    return natten::cuda::na_forward(c.p, g, kOptions, stream);
  });
}

void na_backward(void* kernel, TF_OpKernelContext* ctx) {
  run(kernel, ctx, prepare_na_backward, [](Call& c, TF_OpKernelContext* k, cudaStream_t stream, std::string* error) {
    const size_t bytes = natten::cuda::na_backward_workspace_bytes(c.p);
    const Tensor ws = workspace(k, bytes, error);
    if (!error->empty()) {
      return natten::cuda::Status{};
    }
    natten::NABackwardArgs g;
    g.query = c.query.data();
    g.key = c.key.data();
    g.value = c.value.data();
    g.rpb = c.rpb.data();
    g.extra_key = c.extra_keys.data();
    g.extra_value = c.extra_values.data();
    g.output = c.output.data();
    g.logsumexp = c.lse.data();
    g.d_output = c.d_output.data();
    g.d_logsumexp = c.d_lse.data();
    g.d_query = c.d_query.data();
    g.d_key = c.d_key.data();
    g.d_value = c.d_value.data();
    g.d_rpb = c.d_rpb.data();
    g.d_extra_key = c.d_extra_keys.data();
    g.d_extra_value = c.d_extra_values.data();
    const natten::cuda::Status s = natten::cuda::na_backward(c.p, g, kOptions, ws.data(), bytes, stream);
    // The workspace is freed when `ws` goes: after the stream is idle (the caller synchronizes first).
    const cudaError_t e = cudaStreamSynchronize(stream);
    return s.ok() && e != cudaSuccess ? natten::cuda::Status{e, cuda_message(e, "backward")} : s;
  });
}

void qk_forward(void* kernel, TF_OpKernelContext* ctx) {
  run(kernel, ctx, prepare_qk_forward, [](Call& c, TF_OpKernelContext*, cudaStream_t stream, std::string*) {
    natten::QKForwardArgs g;
    g.query = c.query.data();
    g.key = c.key.data();
    g.rpb = c.rpb.data();
    g.extra_key = c.extra_keys.data();
    g.logits = c.logits.data();
    return natten::cuda::qk_forward(c.p, g, kOptions, stream);
  });
}

void qk_backward(void* kernel, TF_OpKernelContext* ctx) {
  run(kernel, ctx, prepare_qk_backward, [](Call& c, TF_OpKernelContext*, cudaStream_t stream, std::string*) {
    natten::QKBackwardArgs g;
    g.query = c.query.data();
    g.key = c.key.data();
    g.extra_key = c.extra_keys.data();
    g.d_logits = c.d_logits.data();
    g.d_query = c.d_query.data();
    g.d_key = c.d_key.data();
    g.d_rpb = c.d_rpb.data();
    g.d_extra_key = c.d_extra_keys.data();
    return natten::cuda::qk_backward(c.p, g, kOptions, stream);
  });
}

void av_forward(void* kernel, TF_OpKernelContext* ctx) {
  run(kernel, ctx, prepare_av_forward, [](Call& c, TF_OpKernelContext*, cudaStream_t stream, std::string*) {
    natten::AVForwardArgs g;
    g.weights = c.weights.data();
    g.value = c.value.data();
    g.extra_value = c.extra_values.data();
    g.output = c.out.data();
    return natten::cuda::av_forward(c.p, g, kOptions, stream);
  });
}

void av_backward(void* kernel, TF_OpKernelContext* ctx) {
  run(kernel, ctx, prepare_av_backward, [](Call& c, TF_OpKernelContext*, cudaStream_t stream, std::string*) {
    natten::AVBackwardArgs g;
    g.weights = c.weights.data();
    g.value = c.value.data();
    g.extra_value = c.extra_values.data();
    g.d_output = c.d_output.data();
    g.d_weights = c.d_weights.data();
    g.d_value = c.d_value.data();
    g.d_extra_value = c.d_extra_values.data();
    return natten::cuda::av_backward(c.p, g, kOptions, stream);
  });
}

}  // namespace

std::string register_gpu_kernels() {
  static const ComputeFn compute[6] = {na_forward, na_backward, qk_forward, qk_backward, av_forward, av_backward};
  return register_kernels("GPU", compute);
}

}  // namespace tf
}  // namespace natten
