// Eight float32 lanes, two ways: `Avx2` (256-bit AVX2 + FMA intrinsics; only in translation units compiled
// with -mavx2 -mfma) and `Portable` (plain arrays the compiler vectorizes for whatever the target has); and
// `Avx512`, Avx2 with 16-lane `Zmm` rows for the blocked backward (only where compiled with AVX-512F/VL).
// The row kernels (kernels.h) are written once against this interface and compiled once per type.
//
// Every operation is a static function of the type; masks are lane counts: `load_n(p, n)` reads lanes
// [0, n) and zeroes the rest, `store_n` writes lanes [0, n), `keep_n(x, n)` zeroes lanes >= n.
//
// Like kernels.h, this file is included inside the namespace NATTEN_ISA that its translation unit names,
// and uses no inline or template function of the standard library (see RowScratch in call.h).
#pragma once

#ifndef NATTEN_ISA
#error "simd.h is included by kernels_<isa>.cc, which define NATTEN_ISA"
#endif

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#elif defined(__SSE__)
#include <xmmintrin.h>
#endif

namespace natten {
namespace cpu {
namespace NATTEN_ISA {
namespace simd {

constexpr int kWidth = 8;

// Orders this thread's streaming stores (`stream` below) before its later stores: called at the end of every
// unit that streamed, before the thread pool hears that the unit is done.
inline void stream_fence() {
#if defined(__SSE__)
  _mm_sfence();
#endif
}

// exp's range: below kExpLow the result is 0 (the true value would be denormal, far below any term that
// matters next to the softmax's largest, which is 1; the smallest normal float instead would weigh a value near
// float's largest at about 1), above kExpHigh it is the largest float.
constexpr float kExpLow = -87.33654f;
constexpr float kExpHigh = 88.72283f;
constexpr float kLog2e = 1.44269504088896341f;
// ln 2 in two parts, so that n * ln2 is exact in the high part for |n| <= 128.
constexpr float kLn2High = 0.693359375f;
constexpr float kLn2Low = -2.12194440e-4f;
// exp(r) - 1 - r ~ r^2 * P(r) on [-ln2/2, ln2/2] (minimax, relative error ~1e-7).
constexpr float kExpP0 = 5.0000001201e-1f;
constexpr float kExpP1 = 1.6666665459e-1f;
constexpr float kExpP2 = 4.1665795894e-2f;
constexpr float kExpP3 = 8.3334519073e-3f;
constexpr float kExpP4 = 1.3981999507e-3f;
constexpr float kExpP5 = 1.9875691500e-4f;

struct Portable {
  struct V {
    float f[kWidth];
  };
  static constexpr const char* kName = "portable";
  // The blocked backward's head-dim rows use the same vectors, and its transposed key and value the plain
  // layout (see Avx512 below).
  using Row = Portable;
  static constexpr int kRowWidth = kWidth;
  static constexpr bool kPairs = false;

  static V zero() { return set1(0.0f); }
  static V set1(float x) {
    V r;
    for (int i = 0; i < kWidth; ++i) r.f[i] = x;
    return r;
  }
  static V load(const float* p) {
    V r;
    memcpy(r.f, p, sizeof(r.f));
    return r;
  }
  static void store(float* p, V x) { memcpy(p, x.f, sizeof(x.f)); }
  // A store that need not go through the cache (a plain store here; see Avx2::stream).
  static void stream(float* p, V x) { store(p, x); }
  static V load_n(const float* p, int n) {
    V r = zero();
    for (int i = 0; i < n; ++i) r.f[i] = p[i];
    return r;
  }
  static void store_n(float* p, V x, int n) {
    for (int i = 0; i < n; ++i) p[i] = x.f[i];
  }
  static V keep_n(V x, int n) {
    for (int i = n; i < kWidth; ++i) x.f[i] = 0.0f;
    return x;
  }
  // Lanes >= n set to -Infinity.
  static V mask_n_neg_inf(V x, int n) {
    for (int i = n; i < kWidth; ++i) x.f[i] = -INFINITY;
    return x;
  }
  // A mask for keep(): lanes in [lo, hi) all ones, the others zero.
  static V range_mask(int lo, int hi) {
    V r;
    const uint32_t ones = 0xffffffffu, none = 0;
    for (int i = 0; i < kWidth; ++i) memcpy(&r.f[i], i >= lo && i < hi ? &ones : &none, sizeof(float));
    return r;
  }
  // x AND m bitwise: x's lanes where m is all ones, +0 where it is zero (whatever x held, NaN included).
  static V keep(V x, V m) {
    for (int i = 0; i < kWidth; ++i) {
      uint32_t a, b;
      memcpy(&a, &x.f[i], sizeof(a));
      memcpy(&b, &m.f[i], sizeof(b));
      a &= b;
      memcpy(&x.f[i], &a, sizeof(a));
    }
    return x;
  }
#define NATTEN_PORTABLE_BINARY(name, expr) \
  static V name(V a, V b) {                \
    V r;                                   \
    for (int i = 0; i < kWidth; ++i) {     \
      const float x = a.f[i], y = b.f[i];  \
      r.f[i] = (expr);                     \
    }                                      \
    return r;                              \
  }
  NATTEN_PORTABLE_BINARY(add, x + y)
  NATTEN_PORTABLE_BINARY(sub, x - y)
  NATTEN_PORTABLE_BINARY(mul, x * y)
  // NaN in either operand gives NaN, like the max the AVX2 kernels use (operands ordered to propagate).
  NATTEN_PORTABLE_BINARY(max, (x != x || y != y) ? x + y : (x > y ? x : y))
#undef NATTEN_PORTABLE_BINARY
  // a * b + c
  static V fmadd(V a, V b, V c) {
    V r;
    for (int i = 0; i < kWidth; ++i) r.f[i] = a.f[i] * b.f[i] + c.f[i];
    return r;
  }
  static float hsum(V x) {
    return ((x.f[0] + x.f[4]) + (x.f[2] + x.f[6])) + ((x.f[1] + x.f[5]) + (x.f[3] + x.f[7]));
  }
  static float hmax(V x) {
    float m = x.f[0];
    for (int i = 1; i < kWidth; ++i) m = (m != m || x.f[i] != x.f[i]) ? m + x.f[i] : (x.f[i] > m ? x.f[i] : m);
    return m;
  }
  // Lane j of the result is the sum of the lanes of acc[j].
  static V reduce8(const V* acc) {
    V r;
    for (int j = 0; j < kWidth; ++j) r.f[j] = hsum(acc[j]);
    return r;
  }
  // Transposes the 8x8 block r[row].f[col] in place.
  static void transpose8(V* r) {
    for (int i = 0; i < kWidth; ++i) {
      for (int j = i + 1; j < kWidth; ++j) {
        const float t = r[i].f[j];
        r[i].f[j] = r[j].f[i];
        r[j].f[i] = t;
      }
    }
  }
  static float exp1(float x) {
    if (x != x) return x;
    if (x < kExpLow) return 0.0f;
    x = x > kExpHigh ? kExpHigh : x;
    const float n = nearbyintf(x * kLog2e);
    const float r = (x - n * kLn2High) - n * kLn2Low;
    float y = kExpP5;
    y = y * r + kExpP4;
    y = y * r + kExpP3;
    y = y * r + kExpP2;
    y = y * r + kExpP1;
    y = y * r + kExpP0;
    y = y * (r * r) + r + 1.0f;
    const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof(scale));
    return y * scale;
  }
  static V exp(V x) {
    V r;
    for (int i = 0; i < kWidth; ++i) r.f[i] = exp1(x.f[i]);
    return r;
  }
};

#if defined(__AVX2__) && defined(__FMA__)
struct Avx2 {
  using V = __m256;
  static constexpr const char* kName = "avx2";
  using Row = Avx2;
  static constexpr int kRowWidth = kWidth;
  static constexpr bool kPairs = false;

  static __m256i lane_mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static V zero() { return _mm256_setzero_ps(); }
  static V set1(float x) { return _mm256_set1_ps(x); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V x) { _mm256_storeu_ps(p, x); }
  // A non-temporal store (p 32-byte aligned): for output rows written once, whole cache lines at a time, into
  // memory the cache no longer holds (a kernel's fresh output), so that the line is not read first.
  static void stream(float* p, V x) { _mm256_stream_ps(p, x); }
  static V load_n(const float* p, int n) { return _mm256_maskload_ps(p, lane_mask(n)); }
  static void store_n(float* p, V x, int n) { _mm256_maskstore_ps(p, lane_mask(n), x); }
  static V keep_n(V x, int n) { return _mm256_and_ps(x, _mm256_castsi256_ps(lane_mask(n))); }
  static V mask_n_neg_inf(V x, int n) {
    return _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), x, _mm256_castsi256_ps(lane_mask(n)));
  }
  static V range_mask(int lo, int hi) { return _mm256_castsi256_ps(_mm256_andnot_si256(lane_mask(lo), lane_mask(hi))); }
  static V keep(V x, V m) { return _mm256_and_ps(x, m); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  // maxps returns its second operand when either is NaN; a NaN in a or b reaches the result through the
  // unordered compare.
  static V max(V a, V b) {
    const V nan = _mm256_cmp_ps(a, b, _CMP_UNORD_Q);
    return _mm256_blendv_ps(_mm256_max_ps(a, b), _mm256_add_ps(a, b), nan);
  }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static float hsum(V x) {
    const __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));
  }
  static float hmax(V x) {
    alignas(32) float f[kWidth];
    _mm256_store_ps(f, x);
    return Portable::hmax(Portable::load(f));
  }
  static V reduce8(const V* a) {
    const V t0 = _mm256_hadd_ps(a[0], a[1]);
    const V t1 = _mm256_hadd_ps(a[2], a[3]);
    const V t2 = _mm256_hadd_ps(a[4], a[5]);
    const V t3 = _mm256_hadd_ps(a[6], a[7]);
    const V u0 = _mm256_hadd_ps(t0, t1);  // sums of a0..a3: low half over lanes 0-3, high half over 4-7
    const V u1 = _mm256_hadd_ps(t2, t3);  // the same for a4..a7
    return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
  }
  static void transpose8(V* r) {
    const V t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const V t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const V t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const V t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const V u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const V u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const V u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const V u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
    r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
    r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
  }
  static V exp(V x) {
    const V nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
    const V c = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(kExpLow)), _mm256_set1_ps(kExpHigh));
    const V n = _mm256_round_ps(_mm256_mul_ps(c, _mm256_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const V r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Low), _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2High), c));
    V y = _mm256_set1_ps(kExpP5);
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(kExpP4));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(kExpP3));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(kExpP2));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(kExpP1));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(kExpP0));
    y = _mm256_add_ps(_mm256_fmadd_ps(y, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
    const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    // Below kExpLow (and -Inf): 0; NaN compares false and stays NaN.
    const V under = _mm256_cmp_ps(x, _mm256_set1_ps(kExpLow), _CMP_LT_OQ);
    return _mm256_andnot_ps(under, _mm256_blendv_ps(_mm256_mul_ps(y, _mm256_castsi256_ps(bits)), x, nan));
  }
};
#endif

#if defined(__AVX2__) && defined(__FMA__) && defined(__AVX512F__) && defined(__AVX512VL__)
// Sixteen float32 lanes (one zmm register): the head-dim rows of the blocked backward in the avx512zmm set.
// On Zen 4 a 512-bit operation is one instruction issued over two cycles, so code bound by instruction issue
// rather than by the FMA units does the same work in about half the instructions.
struct Zmm {
  using V = __m512;
  static constexpr int kWidth = 16;
  static V zero() { return _mm512_setzero_ps(); }
  static V set1(float x) { return _mm512_set1_ps(x); }
  // p[0], p[1] repeated in every pair of lanes (one 64-bit broadcast).
  static V set2(const float* p) {
    double d;
    memcpy(&d, p, sizeof(d));
    return _mm512_castpd_ps(_mm512_set1_pd(d));
  }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V x) { _mm512_storeu_ps(p, x); }
  static void stream(float* p, V x) { _mm512_stream_ps(p, x); }  // p 64-byte aligned (see Avx2::stream)
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  // Lanes [8 H, 8 H + 8). (The masked form: GCC 12's plain extract and cast read an undefined vector and
  // warn.)
  template <int H>
  static __m256 half(V x) {
    return _mm256_castpd_ps(_mm512_mask_extractf64x4_pd(_mm256_setzero_pd(), 0xff, _mm512_castps_pd(x), H));
  }
  static float hsum(V x) { return Avx2::hsum(_mm256_add_ps(half<0>(x), half<1>(x))); }
  // Lane j of *ra (*rb): a[2j] + a[2j + 1] (b's).
  static void fold_pairs(V a, V b, __m256* ra, __m256* rb) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const V s = _mm512_add_ps(_mm512_permutex2var_ps(a, even, b), _mm512_permutex2var_ps(a, odd, b));
    *ra = half<0>(s);
    *rb = half<1>(s);
  }
};

// The avx512zmm set: Avx2's eight lanes for everything but the blocked backward, whose head-dim rows are
// Zmm vectors and whose transposed key and value interleave pairs of head-dim columns (kPairs: column pair
// d/2 of a line holds (x, d), (x, d + 1) for every token x, so that one 16-lane load of it and one 64-bit
// broadcast of a query's (d, d + 1) feed eight keys with two columns each).
struct Avx512 : Avx2 {
  static constexpr const char* kName = "avx512zmm";
  using Row = Zmm;
  static constexpr int kRowWidth = Zmm::kWidth;
  static constexpr bool kPairs = true;
  // Transposes the 4x4 block of column pairs r[row] (four pairs each) in place.
  static void transpose4_pairs(V* r) {
    const __m256d a = _mm256_castps_pd(r[0]), b = _mm256_castps_pd(r[1]);
    const __m256d c = _mm256_castps_pd(r[2]), d = _mm256_castps_pd(r[3]);
    const __m256d t0 = _mm256_unpacklo_pd(a, b), t1 = _mm256_unpackhi_pd(a, b);
    const __m256d t2 = _mm256_unpacklo_pd(c, d), t3 = _mm256_unpackhi_pd(c, d);
    r[0] = _mm256_castpd_ps(_mm256_permute2f128_pd(t0, t2, 0x20));
    r[1] = _mm256_castpd_ps(_mm256_permute2f128_pd(t1, t3, 0x20));
    r[2] = _mm256_castpd_ps(_mm256_permute2f128_pd(t0, t2, 0x31));
    r[3] = _mm256_castpd_ps(_mm256_permute2f128_pd(t1, t3, 0x31));
  }
};
#endif

}  // namespace simd
}  // namespace NATTEN_ISA
}  // namespace cpu
}  // namespace natten
