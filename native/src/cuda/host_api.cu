// The host-memory front end (natten/cuda/host_api.h).
#include "natten/cuda/host_api.h"

#include <chrono>
#include <vector>

#include "common.h"

#if !defined(NATTEN_EMULATION)
#include <dlfcn.h>
#endif

namespace natten {
namespace cuda {
namespace host {
namespace {

size_t align256(size_t bytes) { return (bytes + 255) / 256 * 256; }

// Device memory that is freed when it goes out of scope.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { reset(); }
  void reset() {
    if (ptr_ != nullptr) {
      cudaFree(ptr_);
      ptr_ = nullptr;
      bytes_ = 0;
    }
  }
  cudaError_t allocate(size_t bytes) {
    reset();
    const cudaError_t e = cudaMalloc(&ptr_, bytes);
    if (e != cudaSuccess) {
      ptr_ = nullptr;
      return e;
    }
    bytes_ = bytes;
    return cudaSuccess;
  }
  char* get() const { return static_cast<char*>(ptr_); }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// Events of one call, destroyed with it.
class Events {
 public:
  Events() {
    for (cudaEvent_t& e : events_) {
      if (cudaEventCreate(&e) != cudaSuccess) {
        e = nullptr;
      }
    }
  }
  ~Events() {
    for (cudaEvent_t e : events_) {
      if (e != nullptr) {
        cudaEventDestroy(e);
      }
    }
  }
  void record(int i, cudaStream_t s) {
    if (events_[i] != nullptr) {
      cudaEventRecord(events_[i], s);
    }
  }
  double ms(int from, int to) const {
    float t = 0;
    if (events_[from] == nullptr || events_[to] == nullptr ||
        cudaEventElapsedTime(&t, events_[from], events_[to]) != cudaSuccess) {
      return 0;
    }
    return t;
  }

 private:
  cudaEvent_t events_[4] = {};
};

struct Context {
  cudaStream_t stream = nullptr;
  DeviceBuffer arena;
  Timing timing;
  int fail_in = -1;  // calls left before a simulated allocation failure (-1: none)
};

Context& context() {
  static Context c;
  return c;
}

// One call: copies `ins` to the device, runs `run(device pointers of ins, of outs, workspace)`, copies `outs`
// back and synchronizes. `what` names the call in errors.
template <class Run>
Status call(const char* what, std::initializer_list<In> ins, std::initializer_list<Out> outs, size_t workspace,
            Run run) {
  Context& ctx = context();
  if (ctx.stream == nullptr) {
    NATTEN_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&ctx.stream, cudaStreamNonBlocking),
                                std::string(what) + ": creating a stream");
  }
  size_t bytes = align256(workspace);
  for (const In& in : ins) {
    bytes += align256(sizeof(float) * in.size);
  }
  for (const Out& out : outs) {
    bytes += align256(sizeof(float) * out.size);
  }
  if (ctx.fail_in >= 0 && ctx.fail_in-- == 0) {
    return cuda_error(cudaErrorMemoryAllocation, std::string(what) + ": allocating " + std::to_string(bytes) +
                                                     " bytes of device memory (failure requested by a test)");
  }
  if (ctx.arena.bytes() < bytes) {
    const cudaError_t e = ctx.arena.allocate(bytes);
    if (e != cudaSuccess) {
      cudaGetLastError();  // an allocation failure is not sticky: clear it
      return cuda_error(e, std::string(what) + ": allocating " + std::to_string(bytes) + " bytes of device memory");
    }
  }
  // From here on every path synchronizes before returning: the copies read and write the caller's arrays.
  char* cursor = ctx.arena.get();
  std::vector<const float*> in_ptrs;
  std::vector<float*> out_ptrs;
  Events events;
  Status s;
  events.record(0, ctx.stream);
  for (const In& in : ins) {
    float* d = in.data == nullptr ? nullptr : reinterpret_cast<float*>(cursor);
    if (in.data != nullptr) {
      const cudaError_t e = cudaMemcpyAsync(d, in.data, sizeof(float) * in.size, cudaMemcpyHostToDevice, ctx.stream);
      if (s.ok() && e != cudaSuccess) {
        s = cuda_error(e, "copying an input to the device");
      }
      cursor += align256(sizeof(float) * in.size);
    }
    in_ptrs.push_back(d);
  }
  for (const Out& out : outs) {
    float* d = out.data == nullptr ? nullptr : reinterpret_cast<float*>(cursor);
    if (out.data != nullptr) {
      cursor += align256(sizeof(float) * out.size);
    }
    out_ptrs.push_back(d);
  }
  events.record(1, ctx.stream);
  if (s.ok()) {
    s = run(in_ptrs.data(), out_ptrs.data(), workspace > 0 ? cursor : nullptr, ctx.stream);
  }
  events.record(2, ctx.stream);
  if (s.ok()) {
    size_t i = 0;
    for (const Out& out : outs) {
      if (out.data != nullptr) {
        const cudaError_t e =
            cudaMemcpyAsync(out.data, out_ptrs[i], sizeof(float) * out.size, cudaMemcpyDeviceToHost, ctx.stream);
        if (e != cudaSuccess) {
          s = cuda_error(e, "copying an output to the host");
          break;
        }
      }
      i++;
    }
  }
  events.record(3, ctx.stream);
  const cudaError_t sync = cudaStreamSynchronize(ctx.stream);
  if (s.ok() && sync != cudaSuccess) {
    s = cuda_error(sync, "running the kernels");
  }
  if (!s.ok()) {
    s.message = std::string(what) + ": " + s.message;
    return s;
  }
  ctx.timing = Timing{events.ms(0, 1), events.ms(1, 2), events.ms(2, 3)};
  return s;
}

}  // namespace

Status na_forward(const NAProblem& p, In q, In k, In v, In rpb, In ek, In ev, Out out, Out lse, const RunOptions& o) {
  return call("fused forward", {q, k, v, rpb, ek, ev}, {out, lse}, 0,
              [&](const float* const* in, float* const* outs, char*, cudaStream_t stream) {
                NAForwardArgs a;
                a.query = in[0];
                a.key = in[1];
                a.value = in[2];
                a.rpb = in[3];
                a.extra_key = in[4];
                a.extra_value = in[5];
                a.output = outs[0];
                a.logsumexp = outs[1];
                return cuda::na_forward(p, a, o, stream);
              });
}

Status na_backward(const NAProblem& p, In q, In k, In v, In rpb, In ek, In ev, In out, In lse, In d_out, In d_lse,
                   Out dq, Out dk, Out dv, Out drpb, Out dek, Out dev, const RunOptions& o) {
  const size_t workspace = na_backward_workspace_bytes(p);
  return call("fused backward", {q, k, v, rpb, ek, ev, out, lse, d_out, d_lse}, {dq, dk, dv, drpb, dek, dev},
              workspace, [&](const float* const* in, float* const* outs, char* ws, cudaStream_t stream) {
                NABackwardArgs a;
                a.query = in[0];
                a.key = in[1];
                a.value = in[2];
                a.rpb = in[3];
                a.extra_key = in[4];
                a.extra_value = in[5];
                a.output = in[6];
                a.logsumexp = in[7];
                a.d_output = in[8];
                a.d_logsumexp = in[9];
                a.d_query = outs[0];
                a.d_key = outs[1];
                a.d_value = outs[2];
                a.d_rpb = outs[3];
                a.d_extra_key = outs[4];
                a.d_extra_value = outs[5];
                return cuda::na_backward(p, a, o, ws, workspace, stream);
              });
}

Status qk_forward(const NAProblem& p, In q, In k, In rpb, In ek, Out logits, const RunOptions& o) {
  return call("split qk forward", {q, k, rpb, ek}, {logits}, 0,
              [&](const float* const* in, float* const* outs, char*, cudaStream_t stream) {
                QKForwardArgs a;
                a.query = in[0];
                a.key = in[1];
                a.rpb = in[2];
                a.extra_key = in[3];
                a.logits = outs[0];
                return cuda::qk_forward(p, a, o, stream);
              });
}

Status qk_backward(const NAProblem& p, In q, In k, In ek, In d_logits, Out dq, Out dk, Out drpb, Out dek,
                   const RunOptions& o) {
  return call("split qk backward", {q, k, ek, d_logits}, {dq, dk, drpb, dek}, 0,
              [&](const float* const* in, float* const* outs, char*, cudaStream_t stream) {
                QKBackwardArgs a;
                a.query = in[0];
                a.key = in[1];
                a.extra_key = in[2];
                a.d_logits = in[3];
                a.d_query = outs[0];
                a.d_key = outs[1];
                a.d_rpb = outs[2];
                a.d_extra_key = outs[3];
                return cuda::qk_backward(p, a, o, stream);
              });
}

Status av_forward(const NAProblem& p, In w, In v, In ev, Out out, const RunOptions& o) {
  return call("split av forward", {w, v, ev}, {out}, 0,
              [&](const float* const* in, float* const* outs, char*, cudaStream_t stream) {
                AVForwardArgs a;
                a.weights = in[0];
                a.value = in[1];
                a.extra_value = in[2];
                a.output = outs[0];
                return cuda::av_forward(p, a, o, stream);
              });
}

Status av_backward(const NAProblem& p, In w, In v, In ev, In d_out, Out dw, Out dv, Out dev, const RunOptions& o) {
  return call("split av backward", {w, v, ev, d_out}, {dw, dv, dev}, 0,
              [&](const float* const* in, float* const* outs, char*, cudaStream_t stream) {
                AVBackwardArgs a;
                a.weights = in[0];
                a.value = in[1];
                a.extra_value = in[2];
                a.d_output = in[3];
                a.d_weights = outs[0];
                a.d_value = outs[1];
                a.d_extra_value = outs[2];
                return cuda::av_backward(p, a, o, stream);
              });
}

Timing last_timing() { return context().timing; }
size_t reserved_bytes() { return context().arena.bytes(); }
void release() { context().arena.reset(); }
void fail_next_allocation(int skip) { context().fail_in = skip; }

DeviceStatus device_status() {
  DeviceStatus s;
#if defined(NATTEN_EMULATION)
  s.emulated = true;
#else
  // The runtime is linked statically and loads the driver library itself; looking for it first tells
  // "no driver" apart from the runtime's other failures.
  void* driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (driver == nullptr) {
    const char* e = dlerror();
    s.driver_error = e != nullptr ? e : "libcuda.so.1 not found";
    return s;
  }
  dlclose(driver);
#endif
  s.driver_loaded = true;
  cudaDriverGetVersion(&s.driver_version);
  cudaRuntimeGetVersion(&s.runtime_version);
  const cudaError_t e = cudaGetDeviceCount(&s.device_count);
  s.code = static_cast<int>(e);
  s.code_name = cudaGetErrorName(e);
  s.code_message = cudaGetErrorString(e);
  if (e != cudaSuccess) {
    s.device_count = 0;
    cudaGetLastError();
    return s;
  }
  if (s.device_count > 0) {
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) {
      s.name = prop.name;
      s.major = prop.major;
      s.minor = prop.minor;
      s.total_memory = static_cast<int64_t>(prop.totalGlobalMem);
      s.multiprocessors = prop.multiProcessorCount;
    }
  }
  return s;
}

}  // namespace host
}  // namespace cuda
}  // namespace natten
