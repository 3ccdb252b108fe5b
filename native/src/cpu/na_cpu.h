// Neighborhood attention on the CPU: the native kernels behind the natten_cpu addon (the `cpu` backend in
// Node) and the natten_tf TensorFlow ops. Plain C++ over raw float32 pointers: no Node, no TensorFlow.
//
// Layout (heads last): query [batch, tokens, heads, headDim], key/value [batch, tokens, headsKv, headDim(V)],
// extra tokens [batch, nExtra, headsKv, headDim(V)], rpb [heads, 2k0-1, 2k1-1, 2k2-1], split-op weights
// [batch, tokens, heads, kernelVolume + nExtra]; tokens are the spatial axes flattened row-major.
//
// Every function computes exactly the spec (../shared/spec/neighborhood-attention.md), sums in float32
// (drpb in float64), writes every element of its outputs (they need not be initialized), and gives
// bit-identical results for any number of threads: work is split into units fixed by the problem alone,
// each unit writes only its own rows or its own partial buffers, and partial buffers are reduced in a
// fixed order.
#pragma once

#include <cstdint>
#include <string>

#include "natten/problem.h"

namespace natten {
namespace cpu {

// One call's sizes and parameters: natten/problem.h's NAProblem (shared with the CUDA kernels), spatial axes
// padded to three like NAInfo (leading axes of size 1, kernel 1, stride 1, dilation 1, not causal).
using Problem = natten::NAProblem;

// Checks what the native kernels rely on for memory safety (positive sizes, 1 <= stride <= kernel,
// kernel * dilation <= length, heads a multiple of headsKv, sizes that fit 32-bit token and slot indices).
// Returns "" when the problem is valid, else a sentence naming the field, its value and what was expected.
std::string validate(const Problem& p);

// Floats of the attention weights a forward may keep for its backward (na_forward's `weights`): 0 where it
// cannot (the blocked forward or backward does not apply), or where they would take more than
// kKeptWeightsPerOutput times the output's memory (the weights of a window of kernel[0] * kernel[1] rows of 8 or
// 16 lanes, per query row, against headDimV output floats).
constexpr int64_t kKeptWeightsPerOutput = 4;
int64_t kept_weights_length(const Problem& p);

// Fused forward: output and logsumexp. rpb, extra_keys/extra_values may be null (absent). With `weights` of
// kept_weights_length(p) > 0 floats, the blocked forward also writes its attention weights there, for
// na_backward; returns whether it did (not when the value holds Inf or NaN: the per-row forward runs then).
bool na_forward(const Problem& p, const float* query, const float* key, const float* value, const float* rpb,
                const float* extra_keys, const float* extra_values, float* output, float* lse,
                float* weights = nullptr, int64_t weights_length = 0);

// Fused backward from the saved output and logsumexp. d_lse (the logsumexp's upstream gradient) may be
// null. d_rpb is written when p.has_rpb, d_extra_keys/d_extra_values when p.n_extra > 0. `weights`: those a
// na_forward of the same inputs kept (or null); the blocked backward then reads them instead of computing
// Q K^T and softmax again (where its tiles are the forward's: the header says), else ignores them.
void na_backward(const Problem& p, const float* query, const float* key, const float* value, const float* rpb,
                 const float* extra_keys, const float* extra_values, const float* output, const float* lse,
                 const float* d_output, const float* d_lse, float* d_query, float* d_key, float* d_value,
                 float* d_rpb, float* d_extra_keys, float* d_extra_values, const float* weights = nullptr,
                 int64_t weights_length = 0);

// Split QK: scaled logits plus bias, -Infinity in masked slots.
void qk_forward(const Problem& p, const float* query, const float* key, const float* rpb, const float* extra_keys,
                float* logits);

// Split QK backward; d_rpb written when p.has_rpb, d_extra_keys when p.n_extra > 0.
void qk_backward(const Problem& p, const float* query, const float* key, const float* extra_keys,
                 const float* d_logits, float* d_query, float* d_key, float* d_rpb, float* d_extra_keys);

// Split AV: weights times neighborhood values (p.head_dim is ignored; values have p.head_dim_v).
void av_forward(const Problem& p, const float* weights, const float* value, const float* extra_values,
                float* output);

// Split AV backward; d_extra_values written when p.n_extra > 0.
void av_backward(const Problem& p, const float* weights, const float* value, const float* extra_values,
                 const float* d_output, float* d_weights, float* d_value, float* d_extra_values);

// Instruction sets of the row kernels. kAuto picks AVX2+FMA with AVX-512F/VL (kAvx512Zmm: the 256-bit kernels
// with 32 vector registers and a blocked backward on 512-bit rows) when the CPU and OS support them, else
// AVX2+FMA, else portable; kAvx512 is kAvx512Zmm with kAvx512's 256-bit blocked backward.
// NATTEN_CPU_ISA=portable|avx2|avx512|avx512zmm in the environment sets the initial choice (one the CPU lacks
// falls back as kAuto does).
enum class Isa { kAuto, kPortable, kAvx2, kAvx512, kAvx512Zmm };

// True when the CPU and OS support AVX2 and FMA.
bool cpu_has_avx2();
// True when they also support AVX-512F and AVX-512VL (the OS saving the opmask and upper zmm state).
bool cpu_has_avx512();
// Selects the row kernels; returns false (and changes nothing) when kAvx2, kAvx512 or kAvx512Zmm is asked for
// and unsupported.
bool set_isa(Isa isa);
// The row kernels in use: kPortable, kAvx2, kAvx512 or kAvx512Zmm.
Isa active_isa();
const char* isa_name(Isa isa);

// Query lines per tile of the blocked backward (kernels.h, na_backward_blocked): 2 (the default: two lines
// of the middle axis share each key row's dk/dv update) or 1 (NATTEN_CPU_TILE_LINES=1, or
// set_tile_lines(1)); for the tests and the benchmark. Returns false (and changes nothing) for other values.
bool set_tile_lines(int lines);
int tile_lines();

// The fused backward's blocked kernel (kernels.h, na_backward_blocked) runs where it applies (see
// blocked_backward_applies) unless turned off: by set_blocked_backward(false), or NATTEN_CPU_BLOCKED_BACKWARD=0
// in the environment (the default). Off, or where it does not apply, the per-row kernel runs.
void set_blocked_backward(bool on);
bool blocked_backward_enabled();
// Whether na_backward takes the blocked kernel for this problem (when enabled and the query, key, value and
// output gradient are all finite): last-axis dilation 1, last-axis kernel at most 16, no extra tokens, head
// dims multiples of 8.
bool blocked_backward_applies(const Problem& p);

// The blocked forward (kernels.h, na_forward_blocked) runs where the blocked backward does, with headDim ==
// headDimV of at most four vectors of the active row kernels (64 floats with AVX-512, 32 otherwise), unless
// turned off: by set_blocked_forward(false), or NATTEN_CPU_BLOCKED_FORWARD=0 in the environment at load.
void set_blocked_forward(bool on);
bool blocked_forward_applies(const Problem& p);

// Threads taking part in a call, the caller included. The default is the number of CPUs this process may
// run on (sched_getaffinity), or NATTEN_NUM_THREADS when set. set_num_threads(0) restores the default.
void set_num_threads(int n);
int num_threads();
// How long (microseconds) an idle worker of the pool checks for the next job before it sleeps (thread_pool.h).
void set_pool_spin_us(int64_t us);
int64_t pool_spin_us();

// The core clock in GHz, for the benchmark: from a timed chain of dependent integer adds (one cycle each) and
// of dependent 256-bit FMAs (assuming four cycles each; 0 without AVX2). 0 where not measurable (non-x86-64).
struct Clock {
  double add_chain_ghz = 0;
  double fma_chain_ghz = 0;
};
Clock measure_clock();

}  // namespace cpu
}  // namespace natten
