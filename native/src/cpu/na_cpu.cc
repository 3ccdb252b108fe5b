// The CPU kernels' entry points: validation, the choice of row kernels (avx512zmm, avx512, avx2 or portable),
// cutting a call into units for the thread pool, the workspace of partial buffers, and the fixed-order reductions.
#include "na_cpu.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#endif
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <new>
#include <vector>

#include "call.h"
#include "geometry.h"
#include "thread_pool.h"

namespace natten {
namespace cpu {

// ---------------------------------------------------------------------------------------------------------
// Validation

std::string validate(const Problem& p) {
  auto positive = [](const char* name, int v) -> std::string {
    return v >= 1 ? "" : std::string(name) + " must be >= 1, got " + std::to_string(v);
  };
  std::string e;
  if (!(e = positive("batch", p.batch)).empty() || !(e = positive("heads", p.heads)).empty() ||
      !(e = positive("headsKv", p.heads_kv)).empty() || !(e = positive("headDim", p.head_dim)).empty() ||
      !(e = positive("headDimV", p.head_dim_v)).empty()) {
    return e;
  }
  if (p.n_extra < 0) {
    return "nExtra must be >= 0, got " + std::to_string(p.n_extra);
  }
  if (p.heads % p.heads_kv != 0) {
    return "heads (" + std::to_string(p.heads) + ") must be a multiple of headsKv (" + std::to_string(p.heads_kv) + ")";
  }
  int64_t tokens = 1, volume = 1;
  for (int a = 0; a < 3; ++a) {
    const std::string axis = "[" + std::to_string(a) + "]";
    if (p.length[a] < 1 || p.kernel[a] < 1 || p.dilation[a] < 1 || p.stride[a] < 1) {
      return "length, kernel, stride and dilation" + axis + " must be >= 1, got " + std::to_string(p.length[a]) +
             ", " + std::to_string(p.kernel[a]) + ", " + std::to_string(p.stride[a]) + ", " +
             std::to_string(p.dilation[a]);
    }
    if (p.stride[a] > p.kernel[a]) {
      return "stride" + axis + "=" + std::to_string(p.stride[a]) + " must be <= kernel" + axis + "=" +
             std::to_string(p.kernel[a]);
    }
    if (static_cast<int64_t>(p.kernel[a]) * p.dilation[a] > p.length[a]) {
      return "kernel" + axis + " * dilation" + axis + " = " + std::to_string(p.kernel[a]) + " * " +
             std::to_string(p.dilation[a]) + " must be <= length" + axis + "=" + std::to_string(p.length[a]);
    }
    tokens *= p.length[a];
    volume *= 2 * p.kernel[a] - 1;
  }
  const int64_t kLimit = int64_t{1} << 31;
  if (tokens >= kLimit || volume + p.n_extra >= kLimit) {
    return "tokens (" + std::to_string(tokens) + ") and rpb volume plus nExtra must each be below 2^31";
  }
  if (!(p.scale == p.scale)) {
    return "scale must not be NaN";
  }
  return "";
}

// ---------------------------------------------------------------------------------------------------------
// Instruction set

bool cpu_has_avx2() {
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

bool cpu_has_avx512() {
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  if (!cpu_has_avx2() || !__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512vl")) {
    return false;
  }
  // The OS must save the ymm, opmask and zmm state (XCR0 bits 1, 2, 5, 6, 7); OSXSAVE (CPUID.1:ECX bit 27)
  // says XGETBV may be executed.
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(1, &a, &b, &c, &d) == 0 || (c & (1u << 27)) == 0) {
    return false;
  }
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (lo & 0xe6u) == 0xe6u;
#else
  return false;
#endif
}

namespace {

// Only called when the CPU supports them: the functions themselves are compiled with them.
const KernelTable* avx2_if_supported() { return cpu_has_avx2() ? avx2_kernels() : nullptr; }
const KernelTable* avx512_if_supported() { return cpu_has_avx512() ? avx512_kernels() : nullptr; }
const KernelTable* avx512zmm_if_supported() { return cpu_has_avx512() ? avx512zmm_kernels() : nullptr; }

const KernelTable* best_kernels() {
  if (const KernelTable* t = avx512zmm_if_supported()) return t;
  if (const KernelTable* t = avx512_if_supported()) return t;
  if (const KernelTable* t = avx2_if_supported()) return t;
  return &portable_kernels();
}

const KernelTable* initial_kernels() {
  const char* env = std::getenv("NATTEN_CPU_ISA");
  if (env != nullptr && std::strcmp(env, "portable") == 0) return &portable_kernels();
  if (env != nullptr && std::strcmp(env, "avx2") == 0) {
    if (const KernelTable* t = avx2_if_supported()) return t;
  }
  if (env != nullptr && std::strcmp(env, "avx512") == 0) {
    if (const KernelTable* t = avx512_if_supported()) return t;
  }
  return best_kernels();
}

std::atomic<const KernelTable*>& kernels() {
  static std::atomic<const KernelTable*> active{initial_kernels()};
  return active;
}

std::atomic<int>& tile_lines_flag() {
  static std::atomic<int> lines{[] {
    const char* env = std::getenv("NATTEN_CPU_TILE_LINES");
    return env != nullptr && std::strcmp(env, "1") == 0 ? 1 : 2;
  }()};
  return lines;
}

}  // namespace

bool set_isa(Isa isa) {
  const KernelTable* t = nullptr;
  switch (isa) {
    case Isa::kPortable: t = &portable_kernels(); break;
    case Isa::kAvx2: t = avx2_if_supported(); break;
    case Isa::kAvx512: t = avx512_if_supported(); break;
    case Isa::kAvx512Zmm: t = avx512zmm_if_supported(); break;
    case Isa::kAuto: t = best_kernels(); break;
  }
  if (t == nullptr) {
    return false;
  }
  kernels().store(t);
  return true;
}

Isa active_isa() {
  const KernelTable* t = kernels().load();
  if (t == &portable_kernels()) return Isa::kPortable;
  // avx512_if_supported(): avx512_kernels() itself is compiled with AVX-512 and must not run without it.
  if (t == avx512zmm_if_supported()) return Isa::kAvx512Zmm;
  return t == avx512_if_supported() ? Isa::kAvx512 : Isa::kAvx2;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kPortable: return "portable";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
    case Isa::kAvx512Zmm: return "avx512zmm";
    default: return "auto";
  }
}

bool set_tile_lines(int lines) {
  if (lines != 1 && lines != 2) {
    return false;
  }
  tile_lines_flag().store(lines);
  return true;
}

int tile_lines() { return tile_lines_flag().load(); }

void set_num_threads(int n) { ThreadPool::instance().resize(n); }

int num_threads() { return ThreadPool::instance().size(); }

void set_pool_spin_us(int64_t us) { ThreadPool::instance().set_spin_us(us); }

int64_t pool_spin_us() { return ThreadPool::instance().spin_us(); }

// ---------------------------------------------------------------------------------------------------------
// Scratch and workspace

namespace {

struct ScratchStore {
  std::vector<int32_t> ints;
  std::vector<const float*> cptrs;
  std::vector<float*> ptrs;
  std::vector<float> floats;
  int slots = -1, dim = -1;
};

}  // namespace

RowScratch row_scratch(int slots, int dim) {
  thread_local ScratchStore store;
  if (slots > store.slots || dim > store.dim) {
    store.slots = std::max(slots, store.slots);
    store.dim = std::max(dim, store.dim);
    const size_t S = static_cast<size_t>(store.slots) + 16, Dm = static_cast<size_t>(store.dim) + 16;
    store.ints.assign(3 * S, 0);
    store.cptrs.assign(2 * S, nullptr);
    store.ptrs.assign(2 * S, nullptr);
    store.floats.assign(3 * S + 3 * Dm, 0.0f);
  }
  const size_t S = static_cast<size_t>(store.slots) + 16, Dm = static_cast<size_t>(store.dim) + 16;
  RowScratch r;
  r.key_token = store.ints.data();
  r.rpb_offset = r.key_token + S;
  r.slot = r.rpb_offset + S;
  r.kp = store.cptrs.data();
  r.vp = r.kp + S;
  r.dkp = store.ptrs.data();
  r.dvp = r.dkp + S;
  r.bias = store.floats.data();
  r.scores = r.bias + S;
  r.probs = r.scores + S;
  r.qbuf = r.probs + S;
  r.obuf = r.qbuf + Dm;
  r.gbuf = r.obuf + Dm;
  return r;
}

namespace {

// The partial buffers of the backward kernels: one block per call, from a block kept between calls (so
// its pages are not faulted in again every call) unless another call holds it or it would exceed kKeep.
class Workspace {
 public:
  explicit Workspace(size_t bytes) {
    static std::mutex mutex;
    static std::vector<unsigned char>* kept = new std::vector<unsigned char>();
    constexpr size_t kKeep = size_t{256} << 20;
    if (bytes <= kKeep && mutex.try_lock()) {
      lock_ = std::unique_lock<std::mutex>(mutex, std::adopt_lock);
      if (kept->size() < bytes) {
        kept->clear();
        kept->shrink_to_fit();
        kept->resize(bytes);
      }
      data_ = kept->data();
    } else {
      own_.resize(bytes);
      data_ = own_.data();
    }
  }
  // `count` elements of T, 64-byte aligned, carved from the block in order.
  template <class T>
  T* take(int64_t count) {
    if (count <= 0) {
      return nullptr;
    }
    at_ = (at_ + 63) / 64 * 64;
    T* p = reinterpret_cast<T*>(data_ + at_);
    at_ += sizeof(T) * count;
    return p;
  }
  static size_t bytes_for(int64_t count, size_t size) { return count <= 0 ? 0 : count * size + 64; }

 private:
  std::unique_lock<std::mutex> lock_;
  std::vector<unsigned char> own_;
  unsigned char* data_ = nullptr;
  size_t at_ = 0;
};

// Calls below this many multiply-adds run on the calling thread alone (thread hand-off costs more).
constexpr double kParallelWork = 1 << 16;

void run_units(int64_t units, double work, const std::function<void(int64_t)>& fn) {
  if (work < kParallelWork) {
    for (int64_t u = 0; u < units; ++u) {
      fn(u);
    }
    return;
  }
  ThreadPool::instance().run(units, fn);
}

double work_of(const Geometry& g, int dims) {
  const Problem& p = g.problem();
  return static_cast<double>(p.batch) * g.tokens() * p.heads * g.slots() * dims;
}

// kv_per_unit: headsKv for forward-type kernels (each unit takes every kv head), 1 for backward-type ones.
NACall make_call(const Geometry& g, const Chunks& chunks, int kv_per_unit) {
  NACall c;
  c.g = &g;
  c.p = g.problem();
  c.tokens = g.tokens();
  c.kernel_volume = g.kernel_volume();
  c.slots = g.slots();
  c.rpb_volume = g.rpb_volume();
  c.heads_per_kv = g.heads_per_kv();
  c.chunk_count = chunks.count();
  c.chunk_start = chunks.start.data();
  c.kv_per_unit = kv_per_unit;
  return c;
}

int64_t unit_count(const NACall& c) {
  return static_cast<int64_t>(c.p.batch) * (c.p.heads_kv / c.kv_per_unit) * c.chunk_count;
}

// The halos of the scatter chunks (see call.h), and the rows they need per (batch, kv head).
int64_t plan_halos(const Geometry& g, const Chunks& chunks, std::vector<ChunkHalo>* halos) {
  int64_t rows = 0;
  for (int ci = 0; ci < chunks.count(); ++ci) {
    const int64_t t0 = chunks.start[ci], t1 = chunks.start[ci + 1];
    int64_t lo, hi;
    g.key_range(t0, t1, &lo, &hi);
    ChunkHalo h;
    h.own_lo = t0;
    h.own_hi = t1;
    h.left_lo = lo;
    h.left_rows = std::max<int64_t>(0, std::min(t0, hi) - lo);
    h.right_lo = std::max(t1, lo);
    h.right_rows = std::max<int64_t>(0, hi - h.right_lo);
    h.row_offset = rows;
    rows += h.left_rows + h.right_rows;
    halos->push_back(h);
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------------------
// Head-major staging of key, value and their gradients.
//
// The tensors interleave kv heads ([tokens, headsKv, dim]), so the rows of one kv head are headsKv rows
// apart: with four heads of 32 floats, 512 bytes, which uses a quarter of the L1 cache's sets and thrashes
// it (measured on the 2d preset: backward 27 ns per (query, key) pair against 16 with one kv head). When
// headsKv > 1, a call copies key and value into a head-major workspace ([headsKv, tokens, dim] per batch)
// and accumulates dk and dv there, copied back at the end: two passes over those tensors, far cheaper than
// the misses.

// Elements of a key-side tensor of `width` columns.
int64_t kv_elements(const Problem& p, int64_t tokens, int width) {
  return static_cast<int64_t>(p.batch) * tokens * p.heads_kv * width;
}

bool staged(const Problem& p) { return p.heads_kv > 1; }

// Copies the rows of tokens [t0, t1) of batch b, every kv head, between the tensor layout and the head-major
// one. Token by token, so that the tensor side is read or written in order (all kv heads of a token are
// contiguous there; a pass per kv head strides over it and was measured slower, see bench/RESULTS.md). The
// rows are short (a head's dim), so each is copied inline in 64-byte pieces rather than by a memcpy call
// per row (measured: the 2d preset's forward 1-3% faster in the driver).
void copy_rows(const Problem& p, int64_t tokens, int width, int64_t b, int64_t t0, int64_t t1, const float* from,
               float* to, bool to_head_major) {
  const int64_t hkv = p.heads_kv;
  // Back to the tensor layout, the destination is a kernel's output, written once and in order and no longer
  // in the cache: streaming stores (whole lines, as the loop writes every byte of a token's rows in order)
  // skip reading each line first. Node, 2d preset's forward+backward through tfjs: the backward's two copies
  // back 0.18 ms shorter (bench/RESULTS.md, 2026-12-02).
#if defined(__SSE2__)
  const bool stream = !to_head_major && width % 4 == 0 && reinterpret_cast<uintptr_t>(to) % 16 == 0;
#endif
  for (int64_t t = t0; t < t1; ++t) {
    for (int64_t hk = 0; hk < hkv; ++hk) {
      const int64_t interleaved = ((b * tokens + t) * hkv + hk) * width;
      const int64_t head_major = ((b * hkv + hk) * tokens + t) * width;
      const float* src = from + (to_head_major ? interleaved : head_major);
      float* dst = to + (to_head_major ? head_major : interleaved);
#if defined(__SSE2__)
      if (stream) {
        for (int i = 0; i < width; i += 4) {
          _mm_stream_ps(dst + i, _mm_loadu_ps(src + i));
        }
        continue;
      }
#endif
      int i = 0;
      for (; i + 16 <= width; i += 16) {
        __builtin_memcpy(dst + i, src + i, 64);
      }
      for (; i < width; ++i) {
        dst[i] = src[i];
      }
    }
  }
#if defined(__SSE2__)
  if (stream) {
    _mm_sfence();
  }
#endif
}

// Tokens per unit of the passes that go token by token over every kv head (copies, transposes).
constexpr int64_t kCopyTokens = 256;

// Copies between the tensor layout and the head-major one, kCopyTokens tokens of one batch per unit.
void restage(const Problem& p, int64_t tokens, int width, const float* from, float* to, bool to_head_major,
             double work) {
  const int64_t per_batch = (tokens + kCopyTokens - 1) / kCopyTokens;
  run_units(p.batch * per_batch, work, [&](int64_t u) {
    const int64_t t0 = (u % per_batch) * kCopyTokens;
    copy_rows(p, tokens, width, u / per_batch, t0, std::min(tokens, t0 + kCopyTokens), from, to, to_head_major);
  });
}

// The layout the row kernels see: staged copies of key and value (when given) in `ws`.
void stage_inputs(NACall* c, Workspace* ws, const float* key, const float* value, double work) {
  const Problem& p = c->p;
  c->key = key;
  c->value = value;
  c->kv_token_stride = p.heads_kv;
  c->kv_head_stride = 1;
  if (!staged(p)) {
    return;
  }
  c->kv_token_stride = 1;
  c->kv_head_stride = c->tokens;
  if (key != nullptr) {
    float* k = ws->take<float>(kv_elements(p, c->tokens, p.head_dim));
    restage(p, c->tokens, p.head_dim, key, k, true, work);
    c->key = k;
  }
  if (value != nullptr) {
    float* v = ws->take<float>(kv_elements(p, c->tokens, p.head_dim_v));
    restage(p, c->tokens, p.head_dim_v, value, v, true, work);
    c->value = v;
  }
}

// Workspace bytes of the staged inputs (key and/or value) and, for backward kernels, gradients.
size_t stage_bytes(const Problem& p, int64_t tokens, bool key, bool value, bool grads) {
  if (!staged(p)) {
    return 0;
  }
  const int copies = grads ? 2 : 1;
  return copies * ((key ? Workspace::bytes_for(kv_elements(p, tokens, p.head_dim), 4) : 0) +
                   (value ? Workspace::bytes_for(kv_elements(p, tokens, p.head_dim_v), 4) : 0));
}

// What a backward kernel scatters, and where the results go.
struct ScatterOutputs {
  float* d_key = nullptr;          // width headDim (null: none)
  float* d_value = nullptr;        // width headDimV (null: none)
  float* d_extra_keys = nullptr;   // [batch, nExtra, headsKv, headDim] (null: none)
  float* d_extra_values = nullptr;
  float* d_rpb = nullptr;          // [heads, rpbVolume] (null: none)
};

// The partial buffers of a backward kernel (see call.h), sized by plan().
struct ScatterPlan {
  std::vector<ChunkHalo> halos;
  int64_t halo_rows = 0, n_dk = 0, n_dv = 0, n_ek = 0, n_ev = 0, n_rpb = 0, rpb_part = 0;

  ScatterPlan(const Geometry& g, const Chunks& chunks, const ScatterOutputs& out) {
    const Problem& p = g.problem();
    const int64_t groups = static_cast<int64_t>(p.batch) * p.heads_kv;
    const int64_t units = groups * chunks.count();
    halo_rows = plan_halos(g, chunks, &halos);
    rpb_part = static_cast<int64_t>(g.heads_per_kv()) * g.rpb_volume();
    n_dk = out.d_key ? groups * halo_rows * p.head_dim : 0;
    n_dv = out.d_value ? groups * halo_rows * p.head_dim_v : 0;
    n_ek = out.d_extra_keys && p.n_extra > 0 ? units * p.n_extra * p.head_dim : 0;
    n_ev = out.d_extra_values && p.n_extra > 0 ? units * p.n_extra * p.head_dim_v : 0;
    n_rpb = out.d_rpb ? units * rpb_part : 0;
  }
  size_t bytes() const {
    return Workspace::bytes_for(n_dk, 4) + Workspace::bytes_for(n_dv, 4) + Workspace::bytes_for(n_ek, 4) +
           Workspace::bytes_for(n_ev, 4) + Workspace::bytes_for(n_rpb, 8);
  }
};

// Runs a backward-type kernel on a call whose inputs are staged: takes the halo and partial buffers (and
// staged gradients) from `ws`, runs the units, then adds the halos into the key-side gradients, sums the
// partials (each in a fixed order) and copies staged gradients back.
void run_scatter(NACall c, Workspace* ws, const Geometry& g, const Chunks& chunks, const ScatterOutputs& out,
                 const ScatterPlan& plan, void (*KernelTable::*kernel)(const NACall&, int64_t), int dims,
                 bool stage) {
  const Problem& p = g.problem();
  const int C = chunks.count();
  const int64_t groups = static_cast<int64_t>(p.batch) * p.heads_kv;
  const int64_t units = groups * C;
  const int D = p.head_dim, Dv = p.head_dim_v, E = p.n_extra;
  const int64_t N = g.tokens();
  c.halos = plan.halos.data();
  c.halo_rows_per_group = plan.halo_rows;
  c.d_key = out.d_key != nullptr && stage ? ws->take<float>(kv_elements(p, N, D)) : out.d_key;
  c.d_value = out.d_value != nullptr && stage ? ws->take<float>(kv_elements(p, N, Dv)) : out.d_value;
  c.d_key_halo = ws->take<float>(plan.n_dk);
  c.d_value_halo = ws->take<float>(plan.n_dv);
  c.d_extra_keys_part = ws->take<float>(plan.n_ek);
  c.d_extra_values_part = ws->take<float>(plan.n_ev);
  c.d_rpb_part = ws->take<double>(plan.n_rpb);
  const int64_t halo_rows = plan.halo_rows;
  const std::vector<ChunkHalo>& halos = plan.halos;

  const KernelTable* table = kernels().load();
  const double work = work_of(g, dims);
  run_units(units, work, [&](int64_t u) { (table->*kernel)(c, u); });

  // Halos and extra tokens, per (batch, kv head): every chunk's contribution in chunk order.
  run_units(groups, work, [&](int64_t group) {
    const int64_t b = group / p.heads_kv, hk = group % p.heads_kv;
    auto add_halos = [&](float* grad, const float* halo, int width) {
      if (grad == nullptr) {
        return;
      }
      float* base = grad + (b * N * p.heads_kv + hk * c.kv_head_stride) * width;
      const int64_t stride = c.kv_token_stride * width;
      const float* h = halo + group * halo_rows * width;
      for (const ChunkHalo& ch : halos) {
        const float* rows = h + ch.row_offset * width;
        for (int64_t r = 0; r < ch.left_rows + ch.right_rows; ++r) {
          const int64_t t = r < ch.left_rows ? ch.left_lo + r : ch.right_lo + (r - ch.left_rows);
          float* dst = base + t * stride;
          const float* src = rows + r * width;
          for (int i = 0; i < width; ++i) {
            dst[i] += src[i];
          }
        }
      }
    };
    add_halos(c.d_key, c.d_key_halo, D);
    add_halos(c.d_value, c.d_value_halo, Dv);
    auto sum_extras = [&](float* grad, const float* part, int width) {
      if (grad == nullptr || part == nullptr) {
        return;
      }
      for (int e = 0; e < E; ++e) {
        float* dst = grad + ((b * E + e) * p.heads_kv + hk) * width;
        for (int i = 0; i < width; ++i) {
          float s = 0.0f;
          for (int ci = 0; ci < C; ++ci) {
            s += part[((group * C + ci) * E + e) * width + i];
          }
          dst[i] = s;
        }
      }
    };
    sum_extras(out.d_extra_keys, c.d_extra_keys_part, D);
    sum_extras(out.d_extra_values, c.d_extra_values_part, Dv);
  });
  // Staged gradients back to [tokens, headsKv, width].
  if (c.d_key != out.d_key) {
    restage(p, N, D, c.d_key, out.d_key, false, work);
  }
  if (c.d_value != out.d_value) {
    restage(p, N, Dv, c.d_value, out.d_value, false, work);
  }

  // rpb: per head, over batches and chunks in unit order.
  if (out.d_rpb != nullptr) {
    const int hpk = g.heads_per_kv();
    const int vol = g.rpb_volume();
    for (int h = 0; h < p.heads; ++h) {
      const int hk = h / hpk;
      for (int i = 0; i < vol; ++i) {
        double s = 0.0;
        for (int b = 0; b < p.batch; ++b) {
          for (int ci = 0; ci < C; ++ci) {
            const int64_t u = (static_cast<int64_t>(b) * p.heads_kv + hk) * C + ci;
            s += c.d_rpb_part[u * plan.rpb_part + static_cast<int64_t>(h - hk * hpk) * vol + i];
          }
        }
        out.d_rpb[static_cast<int64_t>(h) * vol + i] = static_cast<float>(s);
      }
    }
  }
}

// Runs a forward-type kernel (units write only their own rows) with staged inputs.
void run_rows(NACall c, const Geometry& g, const float* key, const float* value,
              void (*KernelTable::*kernel)(const NACall&, int64_t), int dims) {
  const double work = work_of(g, dims);
  Workspace ws(stage_bytes(c.p, c.tokens, key != nullptr, value != nullptr, false));
  stage_inputs(&c, &ws, key, value, work);
  const KernelTable* table = kernels().load();
  run_units(unit_count(c), work, [&](int64_t u) { (table->*kernel)(c, u); });
}

// Runs a backward-type kernel with staged inputs and gradients.
void run_backward(NACall c, const Geometry& g, const Chunks& chunks, const float* key, const float* value,
                  const ScatterOutputs& out, void (*KernelTable::*kernel)(const NACall&, int64_t), int dims) {
  const ScatterPlan plan(g, chunks, out);
  Workspace ws(stage_bytes(c.p, c.tokens, key != nullptr, value != nullptr, true) + plan.bytes());
  stage_inputs(&c, &ws, key, value, work_of(g, dims));
  run_scatter(c, &ws, g, chunks, out, plan, kernel, dims, staged(c.p));
}

// ---------------------------------------------------------------------------------------------------------
// The blocked fused backward (kernels.h, na_backward_blocked): where it applies, and its transposed copies of
// key and value.

// Lanes past the last token of a transposed line (zeros): a tile's key run reads up to kernels.h's kTileLanes.
constexpr int64_t kTransposePad = 16;

std::atomic<bool>& blocked_backward_flag() {
  static std::atomic<bool> on{[] {
    const char* env = std::getenv("NATTEN_CPU_BLOCKED_BACKWARD");
    return env == nullptr || std::strcmp(env, "0") != 0;
  }()};
  return on;
}

// Runs body(b, line, t0) for every line (length[2] consecutive tokens, one position on the leading axes; t0 its
// first token counted over batches) of every batch, on units of whole lines (up to kCopyTokens tokens) so that
// the tensors are read in order; returns whether every call returned true.
template <class F>
bool for_each_line(const Problem& p, int64_t tokens, double work, F&& body) {
  const int64_t L = p.length[2], lines = tokens / L;
  const int64_t per_unit = std::max<int64_t>(1, kCopyTokens / L);
  const int64_t per_batch = (lines + per_unit - 1) / per_unit;
  std::vector<unsigned char> ok(p.batch * per_batch, 1);
  run_units(p.batch * per_batch, work, [&](int64_t u) {
    const int64_t b = u / per_batch, l0 = (u % per_batch) * per_unit;
    for (int64_t line = l0; line < std::min(lines, l0 + per_unit); ++line) {
      if (!body(b, line, b * tokens + line * L)) {
        ok[u] = 0;
      }
    }
  });
  return std::all_of(ok.begin(), ok.end(), [](unsigned char f) { return f != 0; });
}

// Key lanes per tile of the blocked kernels (one vector of 8, or two for a last-axis kernel past 8).
int tile_lanes(const Problem& p) { return p.kernel[2] <= 8 ? 8 : 16; }

// The blocked kernels' tiles: key lanes per tile, query lines per tile, the per-axis window tables.
void set_tiles(NACall* c, const Geometry& g) {
  c->tile_lanes = tile_lanes(c->p);
  c->tile_lines = tile_lines();
  for (int a = 0; a < 3; ++a) {
    g.axis_tables(a, &c->win_first[a], &c->win_count[a], &c->win_rpb[a]);
  }
}

// The attention weights a blocked forward keeps for the blocked backward (kept_weights_length): a header of
// kWeightsHeader floats (kWeightsTag, then the tiles' query lines and key lanes and the row stride, as floats),
// then P = softmax(S) of every query row, head-major ([batch, heads, tokens] rows of `stride` floats: each key row
// of the query's window as the tile's tile_lanes lanes, in the order the tiles visit them; kernels.h, weights_row).
// The header lets a backward check that its tiles are the forward's (the tile-lines setting may change between).
constexpr int64_t kWeightsHeader = 16;  // floats: keeps the rows 64-byte aligned behind it
constexpr float kWeightsTag = 20241.0f;

int64_t weights_stride(const Problem& p, int tile_lanes) {
  return static_cast<int64_t>(p.kernel[0]) * p.kernel[1] * tile_lanes;
}

bool weights_match(const float* header, const NACall& c) {
  return header[0] == kWeightsTag && header[1] == static_cast<float>(c.tile_lines) &&
         header[2] == static_cast<float>(c.tile_lanes) && header[3] == static_cast<float>(c.weights_stride);
}

// The blocked backward's inputs, made in one pass (one dispatch) over key, value, output and its gradient, by
// units of whole lines (a line: length[2] consecutive tokens, one position on the leading axes), every kv head
// of each line in turn (the tensors read in order, as in restage):
//  - key and value transposed, [batch, tokens, headsKv, width] to [batch, headsKv, lines, width, pitch]: each
//    line token-contiguous, `pitch` apart, zeros past the line's end, so that the keys a tile reads along the
//    last axis are contiguous and near each other (the key only for Q K^T: not with kt null, where the forward's
//    weights are given);
//  - with `key_rows` (headsKv > 1), the key's head-major copy (see restage), from the same loads;
//  - delta = rowsum(dO * O) - dLse of the line's query rows (queries and keys share the token grid).
// Returns whether every key value was finite (the value meets no masked zero: any value will do).
bool prepare_blocked(const NACall& c, int64_t pitch, const float* key, const float* value, float* kt, float* vt,
                     float* key_rows, float* delta, double work) {
  const Problem& p = c.p;
  const int64_t tokens = c.tokens, hkv = p.heads_kv, L = p.length[2], lines = tokens / L;
  const int D = p.head_dim, Dv = p.head_dim_v;
  const KernelTable* table = kernels().load();
  return for_each_line(p, tokens, work, [&](int64_t b, int64_t line, int64_t t0) {
    bool finite = true;
    for (int64_t hk = 0; hk < hkv; ++hk) {
      const int64_t group_line = (b * hkv + hk) * lines + line;
      float* rows = key_rows == nullptr ? nullptr : key_rows + ((b * hkv + hk) * tokens + line * L) * D;
      if (kt != nullptr) {
        finite &= table->transpose_line(key + (t0 * hkv + hk) * D, hkv * D, static_cast<int>(L), D,
                                        kt + group_line * D * pitch, pitch, rows);
      } else {
        finite &= table->stage_line(key + (t0 * hkv + hk) * D, hkv * D, static_cast<int>(L), D, rows);
      }
      table->transpose_line(value + (t0 * hkv + hk) * Dv, hkv * Dv, static_cast<int>(L), Dv,
                            vt + group_line * Dv * pitch, pitch, nullptr);
    }
    const int64_t r0 = t0 * p.heads;
    table->row_deltas(c.output + r0 * Dv, c.d_output + r0 * Dv, c.d_lse != nullptr ? c.d_lse + r0 : nullptr,
                      L * p.heads, Dv, delta + r0);
    return finite;
  });
}

// Runs the blocked backward; false (its outputs then unspecified) when the query, key or output gradient holds
// Inf or NaN, which it would multiply by the exact zeros of masked pairs (0 * Inf and 0 * NaN are NaN).
bool run_backward_blocked(NACall c, const Geometry& g, const Chunks& chunks, const float* key, const float* value,
                          const ScatterOutputs& out, int dims, const float* weights) {
  const Problem& p = c.p;
  const ScatterPlan plan(g, chunks, out);
  const int64_t pitch = p.length[2] + kTransposePad;
  const int64_t lines = static_cast<int64_t>(p.batch) * p.heads_kv * (c.tokens / p.length[2]);
  const int64_t rows = static_cast<int64_t>(p.batch) * c.tokens * p.heads;
  Workspace ws(stage_bytes(p, c.tokens, true, true, true) + plan.bytes() +
               Workspace::bytes_for(lines * p.head_dim * pitch, 4) +
               Workspace::bytes_for(lines * p.head_dim_v * pitch, 4) + Workspace::bytes_for(rows, 4));
  const double work = work_of(g, dims);
  set_tiles(&c, g);
  c.weights_stride = weights_stride(p, c.tile_lanes);
  if (weights != nullptr && weights_match(weights, c)) {
    c.weights_in = weights + kWeightsHeader;  // then Q K^T is not computed, nor the transposed key made
  }
  float* kt = c.weights_in == nullptr ? ws.take<float>(lines * p.head_dim * pitch) : nullptr;
  float* vt = ws.take<float>(lines * p.head_dim_v * pitch);
  float* delta = ws.take<float>(rows);
  // The key rows dq sums over: head-major when staged (see restage), made by prepare_blocked; value rows are
  // not read (the transposed value is).
  float* key_rows = staged(p) ? ws.take<float>(kv_elements(p, c.tokens, p.head_dim)) : nullptr;
  c.key = c.value = nullptr;
  c.key_rows = key_rows != nullptr ? key_rows : key;
  c.key_token_stride = key_rows != nullptr ? 1 : p.heads_kv;
  c.key_head_stride = key_rows != nullptr ? c.tokens : 1;
  c.kv_token_stride = key_rows != nullptr ? 1 : p.heads_kv;  // the key-side gradients' layout (run_scatter)
  c.kv_head_stride = key_rows != nullptr ? c.tokens : 1;
  if (!prepare_blocked(c, pitch, key, value, kt, vt, key_rows, delta, work)) {
    return false;
  }
  c.key_t = kt;
  c.value_t = vt;
  c.delta = delta;
  c.t_pitch = pitch;
  std::vector<unsigned char> nonfinite(unit_count(c), 0);
  c.nonfinite = nonfinite.data();
  run_scatter(c, &ws, g, chunks, out, plan, &KernelTable::na_backward_blocked, dims, staged(p));
  return std::none_of(nonfinite.begin(), nonfinite.end(), [](unsigned char f) { return f != 0; });
}

std::atomic<bool>& blocked_forward_flag() {
  static std::atomic<bool> on{[] {
    const char* env = std::getenv("NATTEN_CPU_BLOCKED_FORWARD");
    return env == nullptr || std::strcmp(env, "0") != 0;
  }()};
  return on;
}

// The blocked forward (kernels.h, na_forward_blocked): where the blocked backward runs, with one head dim of
// at most four of the row kernels' vectors.
bool blocked_forward_fits(const Problem& p, int row_width) {
  return blocked_forward_flag().load() && p.dilation[2] == 1 && p.kernel[2] <= 16 && p.n_extra == 0 &&
         p.head_dim == p.head_dim_v && p.head_dim % row_width == 0 && p.head_dim <= 4 * row_width;
}

// Runs the blocked forward: one pass (one dispatch, as prepare_blocked) makes the transposed key and the
// value's head-major rows (headsKv > 1) and checks the value; false, with nothing written, when a value is Inf
// or NaN (its masked pairs would multiply it by zero: the per-row forward then runs).
bool run_forward_blocked(NACall c, const Geometry& g, const float* key, const float* value, float* weights) {
  const Problem& p = c.p;
  const int64_t tokens = c.tokens, hkv = p.heads_kv, L = p.length[2], lines = tokens / L;
  const int D = p.head_dim;
  const int64_t pitch = L + kTransposePad;
  Workspace ws(Workspace::bytes_for(p.batch * hkv * lines * D * pitch, 4) + stage_bytes(p, tokens, false, true, false));
  float* kt = ws.take<float>(p.batch * hkv * lines * D * pitch);
  float* value_rows = staged(p) ? ws.take<float>(kv_elements(p, tokens, D)) : nullptr;
  const double work = work_of(g, 2 * D);
  const KernelTable* table = kernels().load();
  const bool finite = for_each_line(p, tokens, work, [&](int64_t b, int64_t line, int64_t t0) {
    bool ok = true;
    for (int64_t hk = 0; hk < hkv; ++hk) {
      const int64_t group_line = (b * hkv + hk) * lines + line;
      table->transpose_line(key + (t0 * hkv + hk) * D, hkv * D, static_cast<int>(L), D, kt + group_line * D * pitch,
                            pitch, nullptr);  // a non-finite key meets only -Inf masks: any key will do
      float* rows = value_rows == nullptr ? nullptr : value_rows + ((b * hkv + hk) * tokens + line * L) * D;
      ok &= table->stage_line(value + (t0 * hkv + hk) * D, hkv * D, static_cast<int>(L), D, rows);
    }
    return ok;
  });
  if (!finite) {
    return false;
  }
  c.key = c.value = nullptr;
  c.key_t = kt;
  c.t_pitch = pitch;
  c.key_rows = value_rows != nullptr ? value_rows : value;  // the value's rows (see na_forward_blocked)
  c.key_token_stride = value_rows != nullptr ? 1 : hkv;
  c.key_head_stride = value_rows != nullptr ? tokens : 1;
  set_tiles(&c, g);
  c.weights_stride = weights_stride(p, c.tile_lanes);
  if (weights != nullptr) {
    c.weights_out = weights + kWeightsHeader;
    const float header[kWeightsHeader] = {kWeightsTag, static_cast<float>(c.tile_lines),
                                          static_cast<float>(c.tile_lanes), static_cast<float>(c.weights_stride)};
    std::copy(header, header + kWeightsHeader, weights);
  }
  run_units(unit_count(c), work, [&](int64_t u) { table->na_forward_blocked(c, u); });
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// Entry points

void set_blocked_forward(bool on) { blocked_forward_flag().store(on); }

bool blocked_forward_applies(const Problem& p) { return blocked_forward_fits(p, kernels().load()->row_width); }


void set_blocked_backward(bool on) { blocked_backward_flag().store(on); }

bool blocked_backward_enabled() { return blocked_backward_flag().load(); }

bool blocked_backward_applies(const Problem& p) {
  return blocked_backward_enabled() && p.dilation[2] == 1 && p.kernel[2] <= 16 && p.n_extra == 0 &&
         p.head_dim % 8 == 0 && p.head_dim_v % 8 == 0;
}

int64_t kept_weights_length(const Problem& p) {
  if (!blocked_forward_applies(p) || !blocked_backward_applies(p)) {
    return 0;
  }
  const int64_t stride = weights_stride(p, tile_lanes(p));
  if (stride > kKeptWeightsPerOutput * p.head_dim_v) {
    return 0;
  }
  return kWeightsHeader + static_cast<int64_t>(p.batch) * p.heads * Geometry(p).tokens() * stride;
}

// `weights` where a caller's weights of `length` floats are the ones kept_weights_length(p) asks for, else null.
template <class T>
T* fitting_weights(const Problem& p, T* weights, int64_t length) {
  return weights != nullptr && length > 0 && length == kept_weights_length(p) ? weights : nullptr;
}

bool na_forward(const Problem& p, const float* query, const float* key, const float* value, const float* rpb,
                const float* extra_keys, const float* extra_values, float* output, float* lse, float* weights,
                int64_t weights_length) {
  const Geometry g(p);
  const Chunks chunks = row_chunks(g);
  NACall c = make_call(g, chunks, p.heads_kv);
  c.query = query;
  c.rpb = p.has_rpb ? rpb : nullptr;
  c.extra_keys = extra_keys;
  c.extra_values = extra_values;
  c.out = output;
  c.out_lse = lse;
  if (blocked_forward_applies(p)) {
    const Chunks blocks = scatter_chunks(g);  // units of one kv head and whole lines, as the blocked backward's
    NACall b = make_call(g, blocks, 1);
    b.query = query;
    b.rpb = c.rpb;
    b.out = output;
    b.out_lse = lse;
    float* keep = fitting_weights(p, weights, weights_length);
    if (run_forward_blocked(b, g, key, value, keep)) {
      return keep != nullptr;
    }
  }
  run_rows(c, g, key, value, &KernelTable::na_forward, p.head_dim + p.head_dim_v);
  return false;
}

void na_backward(const Problem& p, const float* query, const float* key, const float* value, const float* rpb,
                 const float* extra_keys, const float* extra_values, const float* output, const float* lse,
                 const float* d_output, const float* d_lse, float* d_query, float* d_key, float* d_value,
                 float* d_rpb, float* d_extra_keys, float* d_extra_values, const float* weights,
                 int64_t weights_length) {
  const Geometry g(p);
  const Chunks chunks = scatter_chunks(g);
  NACall c = make_call(g, chunks, 1);
  c.query = query;
  c.rpb = p.has_rpb ? rpb : nullptr;
  c.extra_keys = extra_keys;
  c.extra_values = extra_values;
  c.output = output;
  c.lse = lse;
  c.d_output = d_output;
  c.d_lse = d_lse;
  c.d_query = d_query;
  ScatterOutputs out;
  out.d_key = d_key;
  out.d_value = d_value;
  out.d_rpb = p.has_rpb ? d_rpb : nullptr;
  out.d_extra_keys = p.n_extra > 0 ? d_extra_keys : nullptr;
  out.d_extra_values = p.n_extra > 0 ? d_extra_values : nullptr;
  const int dims = 2 * p.head_dim + 3 * p.head_dim_v;
  if (!blocked_backward_applies(p) ||
      !run_backward_blocked(c, g, chunks, key, value, out, dims, fitting_weights(p, weights, weights_length))) {
    run_backward(c, g, chunks, key, value, out, &KernelTable::na_backward, dims);
  }
}

void qk_forward(const Problem& p, const float* query, const float* key, const float* rpb, const float* extra_keys,
                float* logits) {
  const Geometry g(p);
  const Chunks chunks = row_chunks(g);
  NACall c = make_call(g, chunks, p.heads_kv);
  c.query = query;
  c.rpb = p.has_rpb ? rpb : nullptr;
  c.extra_keys = extra_keys;
  c.logits = logits;
  run_rows(c, g, key, nullptr, &KernelTable::qk_forward, p.head_dim);
}

void qk_backward(const Problem& p, const float* query, const float* key, const float* extra_keys,
                 const float* d_logits, float* d_query, float* d_key, float* d_rpb, float* d_extra_keys) {
  const Geometry g(p);
  const Chunks chunks = scatter_chunks(g);
  NACall c = make_call(g, chunks, 1);
  c.query = query;
  c.extra_keys = extra_keys;
  c.d_logits = d_logits;
  c.d_query = d_query;
  ScatterOutputs out;
  out.d_key = d_key;
  out.d_rpb = p.has_rpb ? d_rpb : nullptr;
  out.d_extra_keys = p.n_extra > 0 ? d_extra_keys : nullptr;
  run_backward(c, g, chunks, key, nullptr, out, &KernelTable::qk_backward, 2 * p.head_dim);
}

void av_forward(const Problem& p, const float* weights, const float* value, const float* extra_values,
                float* output) {
  const Geometry g(p);
  const Chunks chunks = row_chunks(g);
  NACall c = make_call(g, chunks, p.heads_kv);
  c.weights = weights;
  c.extra_values = extra_values;
  c.out = output;
  run_rows(c, g, nullptr, value, &KernelTable::av_forward, p.head_dim_v);
}

void av_backward(const Problem& p, const float* weights, const float* value, const float* extra_values,
                 const float* d_output, float* d_weights, float* d_value, float* d_extra_values) {
  const Geometry g(p);
  const Chunks chunks = scatter_chunks(g);
  NACall c = make_call(g, chunks, 1);
  c.weights = weights;
  c.extra_values = extra_values;
  c.d_output = d_output;
  c.d_weights = d_weights;
  ScatterOutputs out;
  out.d_value = d_value;
  out.d_extra_values = p.n_extra > 0 ? d_extra_values : nullptr;
  run_backward(c, g, chunks, nullptr, value, out, &KernelTable::av_backward, 2 * p.head_dim_v);
}

}  // namespace cpu
}  // namespace natten
