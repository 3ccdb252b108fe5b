// The neighborhoods of one problem, for the CPU kernels: per-axis window tables (from natten/na_mask.h,
// the index math shared with the CUDA code) and the walk over a query token's valid neighbors, the
// counterpart of src/core/neighbors.ts. Also how a call is cut into units of work.
#pragma once

#include <cstdint>
#include <vector>

#include "na_cpu.h"

namespace natten {
namespace cpu {

class Geometry {
 public:
  explicit Geometry(const Problem& p);

  const Problem& problem() const { return p_; }
  // Query (and key) tokens per batch: the product of the spatial lengths.
  int64_t tokens() const { return tokens_; }
  // Window volume k0*k1*k2.
  int kernel_volume() const { return kernel_volume_; }
  // Split-op slots per query: kernel_volume + n_extra.
  int slots() const { return kernel_volume_ + p_.n_extra; }
  // Entries of one head's rpb block (2k0-1)(2k1-1)(2k2-1).
  int rpb_volume() const { return rpb_volume_; }
  int heads_per_kv() const { return p_.heads / p_.heads_kv; }

  // Fills the valid neighbors of query token t (in window-slot order): their key tokens, their offsets
  // into one head's rpb block and their window slots (each array kernel_volume long; slot may be null).
  // Returns their number.
  int neighbors(int64_t t, int32_t* key_token, int32_t* rpb_offset, int32_t* slot) const;

  // The smallest range [lo, hi) of key tokens holding every neighbor of the queries t0..t1-1.
  void key_range(int64_t t0, int64_t t1, int64_t* lo, int64_t* hi) const;

  // Axis a's window tables (length[a] entries each): the first key coordinate of the window of query
  // coordinate i, the number of valid keys in it, and the rpb index of its first key along that axis.
  void axis_tables(int a, const int32_t** first, const int32_t** count, const int32_t** rpb_base) const;

 private:
  Problem p_;
  int64_t tokens_;
  int kernel_volume_;
  int rpb_volume_;
  int rpb_extent_[3];
  std::vector<int32_t> first_[3], count_[3], rpb_base_[3];
};

// Token chunks of a call: chunk c covers query tokens [start[c], start[c+1]).
struct Chunks {
  std::vector<int64_t> start;
  int count() const { return static_cast<int>(start.size()) - 1; }
};

// Chunks for kernels whose units write only their own rows (forward, QK, AV): small enough to balance
// any number of threads.
Chunks row_chunks(const Geometry& g);

// Chunks for the backward kernels, whose key-side gradients need a partial buffer per chunk: as few as
// give every thread work on a machine of up to kMinUnits threads. Fixed by the problem alone (never by the
// thread count), so results are the same on every machine.
Chunks scatter_chunks(const Geometry& g);

}  // namespace cpu
}  // namespace natten
