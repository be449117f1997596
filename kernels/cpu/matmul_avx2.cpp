// The matmul tiles for AVX2 + FMA: f32 weights, and bf16 weights widened to
// f32 in registers, against f32 activations. For f32, sixteen ymm registers
// allow two tokens × four rows of accumulators.
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

// One token against one 64-row bf16 panel (kernels/cpu/weight_matrix.hpp):
// eight accumulators of eight rows fill half the ymm registers. Each 32-byte
// load holds 8 rows' column pair; the even column is the low half of each
// lane shifted up, the odd one the high half masked, both exact f32.
struct Bf16Panel {
  static constexpr int kMr = 1;
  template <int MR>
  static void run(const MatmulArgs& a, int64_t i, int64_t n, KRange kr) {
    static_assert(MR == 1);
    const float* x = static_cast<const float*>(a.x) + i * a.ldx;
    const uint16_t* w = panel(a, n);
    const int64_t valid = std::min<int64_t>(kPanelRows, a.n - n);
    float* y = a.y + i * a.ldy + n;
    __m256 acc[8];
    for (int j = 0; j < 8; ++j) {
      alignas(32) float lanes[8] = {};
      if (kr.begin > 0) {
        for (int64_t l = 0; l < std::min<int64_t>(8, valid - 8 * j); ++l) lanes[l] = y[8 * j + l];
      }
      acc[j] = _mm256_load_ps(lanes);
    }
    const __m256i high = _mm256_set1_epi32(static_cast<int>(0xffff0000u));
    auto pair = [&](int64_t p, bool odd_too) {
      const uint16_t* wp = w + p * (kPanelRows * 2);
      const __m256 x0 = _mm256_set1_ps(x[2 * p]);
      const __m256 x1 = _mm256_set1_ps(odd_too ? x[2 * p + 1] : 0.0f);
#pragma GCC unroll 8
      for (int j = 0; j < 8; ++j) {
        const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wp + 16 * j));
        acc[j] = _mm256_fmadd_ps(x0, _mm256_castsi256_ps(_mm256_slli_epi32(bits, 16)), acc[j]);
        if (odd_too) {
          acc[j] = _mm256_fmadd_ps(x1, _mm256_castsi256_ps(_mm256_and_si256(bits, high)), acc[j]);
        }
      }
    };
    int64_t p = kr.begin / 2;
    for (; 2 * p + 1 < kr.end; ++p) pair(p, true);
    if (2 * p < kr.end) pair(p, false);  // an odd k: x has no column k
    for (int j = 0; j < 8; ++j) {
      if (valid >= 8 * (j + 1)) {
        _mm256_storeu_ps(y + 8 * j, acc[j]);
      } else {
        alignas(32) float lanes[8];
        _mm256_store_ps(lanes, acc[j]);
        for (int64_t l = 0; l < valid - 8 * j; ++l) y[8 * j + l] = lanes[l];
      }
    }
  }
};

}  // namespace

void rows_f32w_avx2(const MatmulArgs& a, int64_t n_begin, int64_t n_end) {
  drive<Tile8<F32>>(a, n_begin, n_end);
}

void rows_bf16w_avx2(const MatmulArgs& a, int64_t n_begin, int64_t n_end) {
  drive_panels<Bf16Panel>(a, n_begin, n_end);
}

}  // namespace waypoint::kernels::cpu::detail

#pragma GCC pop_options
