// The matmul tiles for AVX-512 (F/BW/VL/DQ): f32 weights, and bf16 weights
// widened to f32 in registers (a shift), both against f32 activations.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#pragma GCC push_options
// GCC 12's avx512fintrin.h builds "undefined" vectors by reading a variable
// it never set (_mm512_undefined_*); once inlined here, -Wuninitialized
// flags that. It is the header's intent, not a bug of ours.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma")

#include "kernels/cpu/matmul_blocking.hpp"

namespace waypoint::kernels::cpu::detail {
namespace {

inline __m512 widen_bf16(__m256i bits) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(bits), 16));
}

// W::load(weights, element, mask) gives 16 weights as f32; a type, not a
// function pointer, so that it inlines into the loop.
template <class W, int MR, int NR>
inline void tile16(const MatmulArgs& a, int64_t i, int64_t n) {
  const float* x = static_cast<const float*>(a.x) + i * a.ldx;
  __m512 acc[MR][NR];
#pragma GCC unroll 4
  for (int t = 0; t < MR; ++t) {
#pragma GCC unroll 4
    for (int r = 0; r < NR; ++r) acc[t][r] = _mm512_setzero_ps();
  }
  auto step = [&](int64_t k, __mmask16 mask) {
    __m512 wv[NR];
#pragma GCC unroll 4
    for (int r = 0; r < NR; ++r) wv[r] = W::load(a.w, (n + r) * a.k + k, mask);
#pragma GCC unroll 4
    for (int t = 0; t < MR; ++t) {
      const __m512 xv = _mm512_maskz_loadu_ps(mask, x + t * a.ldx + k);
#pragma GCC unroll 4
      for (int r = 0; r < NR; ++r) acc[t][r] = _mm512_fmadd_ps(xv, wv[r], acc[t][r]);
    }
  };
  int64_t k = 0;
  for (; k + 16 <= a.k; k += 16) step(k, static_cast<__mmask16>(0xffff));
  if (k < a.k) step(k, static_cast<__mmask16>((1u << (a.k - k)) - 1));
#pragma GCC unroll 4
  for (int t = 0; t < MR; ++t) {
#pragma GCC unroll 4
    for (int r = 0; r < NR; ++r) a.y[(i + t) * a.ldy + n + r] = _mm512_reduce_add_ps(acc[t][r]);
  }
}

struct F32Weights {
  static constexpr int kMr = 4;
  template <int MR, int NR>
  static void run(const MatmulArgs& a, int64_t i, int64_t n) {
    tile16<F32Weights, MR, NR>(a, i, n);
  }
  static __m512 load(const void* w, int64_t at, __mmask16 mask) {
    return _mm512_maskz_loadu_ps(mask, static_cast<const float*>(w) + at);
  }
};

struct Bf16Weights {
  static constexpr int kMr = 4;
  template <int MR, int NR>
  static void run(const MatmulArgs& a, int64_t i, int64_t n) {
    tile16<Bf16Weights, MR, NR>(a, i, n);
  }
  static __m512 load(const void* w, int64_t at, __mmask16 mask) {
    return widen_bf16(_mm256_maskz_loadu_epi16(mask, static_cast<const uint16_t*>(w) + at));
  }
};

}  // namespace

void rows_f32w_avx512(const MatmulArgs& a, int64_t n_begin, int64_t n_end) {
  drive<F32Weights>(a, n_begin, n_end);
}

void rows_bf16w_avx512(const MatmulArgs& a, int64_t n_begin, int64_t n_end) {
  drive<Bf16Weights>(a, n_begin, n_end);
}

}  // namespace waypoint::kernels::cpu::detail

#pragma GCC diagnostic pop
#pragma GCC pop_options
