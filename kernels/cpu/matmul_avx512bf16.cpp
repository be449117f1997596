// The matmul tile for AVX512-BF16: bf16 weights against activations rounded to
// bf16, 32 products per vdpbf16ps summed pairwise into f32 accumulators. This
// is how llama.cpp and oneDNN run bf16 models; it halves the bytes each
// activation load brings and doubles the products per instruction over
// widening to f32.
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
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma")

#include "kernels/cpu/matmul_blocking.hpp"

namespace waypoint::kernels::cpu::detail {
namespace {

struct Bf16Dot {
  static constexpr int kMr = 4;
  template <int MR, int NR>
  static void run(const MatmulArgs& a, int64_t i, int64_t n) {
    const auto* x = static_cast<const uint16_t*>(a.x) + i * a.ldx;
    const auto* w = static_cast<const uint16_t*>(a.w) + n * a.k;
    __m512 acc[MR][NR];
#pragma GCC unroll 4
    for (int t = 0; t < MR; ++t) {
#pragma GCC unroll 4
      for (int r = 0; r < NR; ++r) acc[t][r] = _mm512_setzero_ps();
    }
    auto step = [&](int64_t k, __mmask32 mask) {
      __m512i wv[NR];
#pragma GCC unroll 4
      for (int r = 0; r < NR; ++r) wv[r] = _mm512_maskz_loadu_epi16(mask, w + r * a.k + k);
#pragma GCC unroll 4
      for (int t = 0; t < MR; ++t) {
        const __m512i xv = _mm512_maskz_loadu_epi16(mask, x + t * a.ldx + k);
#pragma GCC unroll 4
        for (int r = 0; r < NR; ++r) {
          acc[t][r] = _mm512_dpbf16_ps(acc[t][r], (__m512bh)xv, (__m512bh)wv[r]);
        }
      }
    };
    int64_t k = 0;
    for (; k + 32 <= a.k; k += 32) step(k, ~__mmask32{0});
    if (k < a.k) step(k, static_cast<__mmask32>((uint64_t{1} << (a.k - k)) - 1));
#pragma GCC unroll 4
    for (int t = 0; t < MR; ++t) {
#pragma GCC unroll 4
      for (int r = 0; r < NR; ++r) a.y[(i + t) * a.ldy + n + r] = _mm512_reduce_add_ps(acc[t][r]);
    }
  }
};

}  // namespace

void rows_bf16_avx512bf16(const MatmulArgs& a, int64_t n_begin, int64_t n_end) {
  drive<Bf16Dot>(a, n_begin, n_end);
}

// Round to nearest even, as kernels/bf16.hpp does, 16 at a time.
void to_bf16_avx512bf16(const float* in, uint16_t* out, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256bh v = _mm512_cvtneps_pbh(_mm512_loadu_ps(in + i));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), (__m256i)v);
  }
  if (i < n) {
    const auto mask = static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m256bh v = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(mask, in + i));
    _mm256_mask_storeu_epi16(out + i, mask, (__m256i)v);
  }
}

}  // namespace waypoint::kernels::cpu::detail

#pragma GCC diagnostic pop
#pragma GCC pop_options
