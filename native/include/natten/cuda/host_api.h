// Host-memory front end of the CUDA entry points, for callers that hold their tensors on the host (the
// Node addon under tfjs's cpu and tensorflow backends): each call copies its inputs to the device, runs,
// copies its outputs back and synchronizes. One context per process owns a stream and a device arena that
// grows to the largest call and is reused by later ones (release() frees it); every path frees what it took.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "natten/cuda/api.h"

namespace natten {
namespace cuda {
namespace host {

// A host array of `size` floats; null data for an absent optional tensor.
struct In {
  const float* data = nullptr;
  int64_t size = 0;
};
struct Out {
  float* data = nullptr;
  int64_t size = 0;
};

// Where the time of the last call went (CUDA events): host-to-device copies, kernels, device-to-host copies.
struct Timing {
  double h2d_ms = 0;
  double kernel_ms = 0;
  double d2h_ms = 0;
};

Status na_forward(const NAProblem& p, In query, In key, In value, In rpb, In extra_key, In extra_value, Out output,
                  Out lse, const RunOptions& options);
Status na_backward(const NAProblem& p, In query, In key, In value, In rpb, In extra_key, In extra_value, In output,
                   In lse, In d_output, In d_lse, Out d_query, Out d_key, Out d_value, Out d_rpb, Out d_extra_key,
                   Out d_extra_value, const RunOptions& options);
Status qk_forward(const NAProblem& p, In query, In key, In rpb, In extra_key, Out logits, const RunOptions& options);
Status qk_backward(const NAProblem& p, In query, In key, In extra_key, In d_logits, Out d_query, Out d_key,
                   Out d_rpb, Out d_extra_key, const RunOptions& options);
Status av_forward(const NAProblem& p, In weights, In value, In extra_value, Out output, const RunOptions& options);
Status av_backward(const NAProblem& p, In weights, In value, In extra_value, In d_output, Out d_weights,
                   Out d_value, Out d_extra_value, const RunOptions& options);

Timing last_timing();
size_t reserved_bytes();
void release();
// Makes the call after the next `skip` calls fail as if the device were out of memory (tests of the error path).
void fail_next_allocation(int skip = 0);

// The driver and device as the runtime sees them; `reason` is empty when a device is usable.
struct DeviceStatus {
  bool driver_loaded = false;
  std::string driver_error;   // why libcuda could not be loaded
  int code = 0;               // cudaGetDeviceCount's error code
  std::string code_name;
  std::string code_message;
  int device_count = 0;
  int driver_version = 0;     // e.g. 13000 for CUDA 13.0 (0 when unknown)
  int runtime_version = 0;
  std::string name;           // device 0
  int major = 0;
  int minor = 0;
  int64_t total_memory = 0;
  int multiprocessors = 0;
  bool emulated = false;      // the host emulator of the tests
};
DeviceStatus device_status();

}  // namespace host
}  // namespace cuda
}  // namespace natten
