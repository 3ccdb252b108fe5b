// The plain description of one neighborhood-attention call that every native entry point takes, and the
// pointer sets of the six operations. No CUDA, no Node: a TensorFlow custom op or a test fills these in.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define NATTEN_PROBLEM_HD __host__ __device__
#else
#define NATTEN_PROBLEM_HD
#endif

namespace natten {

// One problem, padded to three spatial axes the way src/core's NAInfo pads them (leading axes of length 1,
// kernel 1, stride 1, dilation 1, not causal). Tensors are contiguous and heads-last:
//   query      [batch, tokens, heads,    head_dim]      tokens = length[0] * length[1] * length[2]
//   key        [batch, tokens, heads_kv, head_dim]
//   value      [batch, tokens, heads_kv, head_dim_v]
//   output     [batch, tokens, heads,    head_dim_v]
//   logsumexp  [batch, tokens, heads]
//   rpb        [heads, 2k0-1, 2k1-1, 2k2-1]
//   extra keys / values [batch, n_extra, heads_kv, head_dim / head_dim_v]
//   split-op weights and logits [batch, tokens, heads, kernel_volume + n_extra]
// Query head h reads key/value head h / (heads / heads_kv). For the AV op, head_dim = head_dim_v is the
// value's last axis and scale is unused.
struct NAProblem {
  int batch = 1;
  int heads = 1;
  int heads_kv = 1;
  int head_dim = 1;
  int head_dim_v = 1;
  int n_extra = 0;
  int length[3] = {1, 1, 1};
  int kernel[3] = {1, 1, 1};
  int stride[3] = {1, 1, 1};
  int dilation[3] = {1, 1, 1};
  bool causal[3] = {false, false, false};
  bool has_rpb = false;
  float scale = 1.f;

  NATTEN_PROBLEM_HD int64_t tokens() const { return static_cast<int64_t>(length[0]) * length[1] * length[2]; }
  NATTEN_PROBLEM_HD int kernel_volume() const { return kernel[0] * kernel[1] * kernel[2]; }
  NATTEN_PROBLEM_HD int slots() const { return kernel_volume() + n_extra; }
  NATTEN_PROBLEM_HD int rpb_extent(int axis) const { return 2 * kernel[axis] - 1; }
  NATTEN_PROBLEM_HD int rpb_volume() const { return rpb_extent(0) * rpb_extent(1) * rpb_extent(2); }
  NATTEN_PROBLEM_HD int heads_per_kv() const { return heads / heads_kv; }

  // Element counts of the tensors above.
  NATTEN_PROBLEM_HD int64_t query_elems() const { return batch * tokens() * heads * head_dim; }
  NATTEN_PROBLEM_HD int64_t key_elems() const { return batch * tokens() * heads_kv * head_dim; }
  NATTEN_PROBLEM_HD int64_t value_elems() const { return batch * tokens() * heads_kv * head_dim_v; }
  NATTEN_PROBLEM_HD int64_t output_elems() const { return batch * tokens() * heads * head_dim_v; }
  NATTEN_PROBLEM_HD int64_t lse_elems() const { return batch * tokens() * heads; }
  NATTEN_PROBLEM_HD int64_t rpb_elems() const { return has_rpb ? static_cast<int64_t>(heads) * rpb_volume() : 0; }
  NATTEN_PROBLEM_HD int64_t extra_key_elems() const { return static_cast<int64_t>(batch) * n_extra * heads_kv * head_dim; }
  NATTEN_PROBLEM_HD int64_t extra_value_elems() const { return static_cast<int64_t>(batch) * n_extra * heads_kv * head_dim_v; }
  NATTEN_PROBLEM_HD int64_t weights_elems() const { return batch * tokens() * heads * slots(); }
};

// Device pointers of each operation. Optional inputs (rpb, extra tokens, d_logsumexp) are null when absent;
// the outputs matching optional inputs are required exactly when the input is present.
struct NAForwardArgs {
  const float* query = nullptr;
  const float* key = nullptr;
  const float* value = nullptr;
  const float* rpb = nullptr;
  const float* extra_key = nullptr;
  const float* extra_value = nullptr;
  float* output = nullptr;
  float* logsumexp = nullptr;
};

struct NABackwardArgs {
  const float* query = nullptr;
  const float* key = nullptr;
  const float* value = nullptr;
  const float* rpb = nullptr;
  const float* extra_key = nullptr;
  const float* extra_value = nullptr;
  const float* output = nullptr;
  const float* logsumexp = nullptr;
  const float* d_output = nullptr;
  const float* d_logsumexp = nullptr;  // optional upstream gradient of the logsumexp
  float* d_query = nullptr;
  float* d_key = nullptr;
  float* d_value = nullptr;
  float* d_rpb = nullptr;
  float* d_extra_key = nullptr;
  float* d_extra_value = nullptr;
};

struct QKForwardArgs {
  const float* query = nullptr;
  const float* key = nullptr;
  const float* rpb = nullptr;
  const float* extra_key = nullptr;
  float* logits = nullptr;  // scaled logits plus bias, -Infinity in masked slots
};

struct QKBackwardArgs {
  const float* query = nullptr;
  const float* key = nullptr;
  const float* extra_key = nullptr;
  const float* d_logits = nullptr;
  float* d_query = nullptr;
  float* d_key = nullptr;
  float* d_rpb = nullptr;
  float* d_extra_key = nullptr;
};

struct AVForwardArgs {
  const float* weights = nullptr;
  const float* value = nullptr;
  const float* extra_value = nullptr;
  float* output = nullptr;
};

struct AVBackwardArgs {
  const float* weights = nullptr;
  const float* value = nullptr;
  const float* extra_value = nullptr;
  const float* d_output = nullptr;
  float* d_weights = nullptr;
  float* d_value = nullptr;
  float* d_extra_value = nullptr;
};

// How the fused kernels multiply: TF32 tensor-core MMAs (TensorFlow's default for float32 on Ampere and
// newer), or full float32 (three TF32 MMAs per product on split operands, accurate to float32 rounding).
enum class Precision { kTF32, kFloat32 };

// Which kernels run: the fast ones where they support the problem and the device (the reference otherwise),
// or always the simple reference kernels.
enum class Implementation { kAuto, kReference };

struct RunOptions {
  Precision precision = Precision::kTF32;
  Implementation implementation = Implementation::kAuto;
  // The fused forward's tile configuration (an index into natten::cuda::kForwardConfigs, TF32 only), or -1 for
  // the dispatcher's choice. For benchmarks and tests.
  int forward_config = -1;
};

}  // namespace natten
