// The matmul tiles for AVX-512 (F/BW/VL/DQ): f32 weights, and bf16 weights
// widened to f32 in registers (a shift), both against f32 activations. The
// f32 tile serves AVX512-BF16 machines too.
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
#include "kernels/cpu/matmul_panel_avx512.hpp"

namespace waypoint::kernels::cpu::detail {
namespace {

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

// MR tokens against one 64-row bf16 panel (kernels/cpu/weight_matrix.hpp).
// Each 64-byte load holds 16 rows' column pair; the even column is the low
// half of each lane shifted up, the odd one the high half masked, both exact
// f32. Each lane accumulates one output over k in column order.
struct Bf16Panel {
  static constexpr int kMr = 4;
  template <int MR>
  static void run(const MatmulArgs& a, int64_t i, int64_t n, KRange kr) {
    const float* x = static_cast<const float*>(a.x) + i * a.ldx;
    const uint16_t* w = panel(a, n);
    PanelAcc<MR> acc(a, i, n, kr);
    const __m512i high = _mm512_set1_epi32(static_cast<int>(0xffff0000u));
    auto pair = [&](int64_t p, bool odd_too) {
      const uint16_t* wp = w + p * (kPanelRows * 2);
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
        const __m512i bits = _mm512_loadu_si512(wp + 32 * j);
        const __m512 even = _mm512_castsi512_ps(_mm512_slli_epi32(bits, 16));
        const __m512 odd = _mm512_castsi512_ps(_mm512_and_si512(bits, high));
#pragma GCC unroll 4
        for (int t = 0; t < MR; ++t) {
          const float* xt = x + t * a.ldx + 2 * p;
          acc.v[t][j] = _mm512_fmadd_ps(_mm512_set1_ps(xt[0]), even, acc.v[t][j]);
          if (odd_too) acc.v[t][j] = _mm512_fmadd_ps(_mm512_set1_ps(xt[1]), odd, acc.v[t][j]);
        }
      }
    };
    int64_t p = kr.begin / 2;
    for (; 2 * p + 1 < kr.end; ++p) pair(p, true);
    if (2 * p < kr.end) pair(p, false);  // an odd k: x has no column k
    acc.store(a, i, n);
  }
};

}  // namespace

void rows_f32w_avx512(const MatmulArgs& a, int64_t n_begin, int64_t n_end) {
  drive<F32Weights>(a, n_begin, n_end);
}

void rows_bf16w_avx512(const MatmulArgs& a, int64_t n_begin, int64_t n_end) {
  drive_panels<Bf16Panel>(a, n_begin, n_end);
}

}  // namespace waypoint::kernels::cpu::detail

#pragma GCC diagnostic pop
#pragma GCC pop_options
