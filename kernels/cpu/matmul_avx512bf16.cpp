// The matmul tile for AVX512-BF16: bf16 weights against activations rounded to
// bf16, 32 products per vdpbf16ps summed pairwise into 16 f32 accumulators. This
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
#include "kernels/cpu/matmul_panel_avx512.hpp"

namespace waypoint::kernels::cpu::detail {
namespace {

// MR tokens against one 64-row panel. Each column pair of the panel's rows is
// 256 contiguous bytes: four vectors of 16 rows × 2 columns, each dotted with
// the token's pair of x broadcast to every lane. Each lane accumulates one
// output over k in column order, whatever MR is (batch invariance).
struct PanelDot {
  static constexpr int kMr = 4;
  template <int MR>
  static void run(const MatmulArgs& a, int64_t i, int64_t n, KRange kr) {
    const auto* x = static_cast<const uint16_t*>(a.x) + i * a.ldx;
    const uint16_t* w = panel(a, n);
    PanelAcc<MR> acc(a, i, n, kr);
    // x's rows are padded with a zero past k, so an odd k's last pair is whole.
    const int64_t pairs = (kr.end + 1) / 2;
    for (int64_t p = kr.begin / 2; p < pairs; ++p) {
      const uint16_t* wp = w + p * (kPanelRows * 2);
      __m512i wv[4];
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) wv[j] = _mm512_loadu_si512(wp + 32 * j);
#pragma GCC unroll 4
      for (int t = 0; t < MR; ++t) {
        uint32_t pair;
        __builtin_memcpy(&pair, x + t * a.ldx + 2 * p, sizeof pair);
        const __m512bh xv = (__m512bh)_mm512_set1_epi32(static_cast<int>(pair));
#pragma GCC unroll 4
        for (int j = 0; j < 4; ++j)
          acc.v[t][j] = _mm512_dpbf16_ps(acc.v[t][j], xv, (__m512bh)wv[j]);
      }
    }
    acc.store(a, i, n);
  }
};

}  // namespace

void rows_bf16_avx512bf16(const MatmulArgs& a, int64_t n_begin, int64_t n_end) {
  drive_panels<PanelDot>(a, n_begin, n_end);
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
