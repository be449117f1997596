// The matmul tiles for AVX2 + FMA: f32 weights, and bf16 weights widened to
// f32 in registers, against f32 activations. Sixteen ymm registers allow two
// tokens × four rows of accumulators.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#pragma GCC push_options
#pragma GCC target("avx2,fma")

#include "kernels/cpu/matmul_blocking.hpp"

namespace waypoint::kernels::cpu::detail {
namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

template <class W>
struct Tile8 {
  static constexpr int kMr = 2;
  template <int MR, int NR>
  static void run(const MatmulArgs& a, int64_t i, int64_t n) {
    const float* x = static_cast<const float*>(a.x) + i * a.ldx;
    __m256 acc[MR][NR];
#pragma GCC unroll 4
    for (int t = 0; t < MR; ++t) {
#pragma GCC unroll 4
      for (int r = 0; r < NR; ++r) acc[t][r] = _mm256_setzero_ps();
    }
    int64_t k = 0;
    for (; k + 8 <= a.k; k += 8) {
      __m256 wv[NR];
#pragma GCC unroll 4
      for (int r = 0; r < NR; ++r) wv[r] = W::load(a.w, (n + r) * a.k + k);
#pragma GCC unroll 4
      for (int t = 0; t < MR; ++t) {
        const __m256 xv = _mm256_loadu_ps(x + t * a.ldx + k);
#pragma GCC unroll 4
        for (int r = 0; r < NR; ++r) acc[t][r] = _mm256_fmadd_ps(xv, wv[r], acc[t][r]);
      }
    }
#pragma GCC unroll 4
    for (int t = 0; t < MR; ++t) {
#pragma GCC unroll 4
      for (int r = 0; r < NR; ++r) {
        float s = hsum(acc[t][r]);
        for (int64_t j = k; j < a.k; ++j) s += x[t * a.ldx + j] * W::scalar(a.w, (n + r) * a.k + j);
        a.y[(i + t) * a.ldy + n + r] = s;
      }
    }
  }
};

struct F32 {
  static __m256 load(const void* w, int64_t at) {
    return _mm256_loadu_ps(static_cast<const float*>(w) + at);
  }
  static float scalar(const void* w, int64_t at) { return static_cast<const float*>(w)[at]; }
};

struct Bf16 {
  static __m256 load(const void* w, int64_t at) {
    const __m128i bits =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + at));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(bits), 16));
  }
  static float scalar(const void* w, int64_t at) {
    const uint32_t bits = uint32_t{static_cast<const uint16_t*>(w)[at]} << 16;
    float f;
    __builtin_memcpy(&f, &bits, sizeof f);
    return f;
  }
};

}  // namespace

void rows_f32w_avx2(const MatmulArgs& a, int64_t n_begin, int64_t n_end) {
  drive<Tile8<F32>>(a, n_begin, n_end);
}

void rows_bf16w_avx2(const MatmulArgs& a, int64_t n_begin, int64_t n_end) {
  drive<Tile8<Bf16>>(a, n_begin, n_end);
}

}  // namespace waypoint::kernels::cpu::detail

#pragma GCC pop_options
