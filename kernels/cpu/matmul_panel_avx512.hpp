#pragma once
// Internal to the AVX-512 matmul tiles: the accumulators of MR tokens against
// one 64-row bf16 panel (kernels/cpu/weight_matrix.hpp), four vectors of 16
// rows per token. Included by each AVX-512 file after its target pragma, with
// internal linkage, as matmul_blocking.hpp is.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "kernels/cpu/matmul_isa.hpp"

namespace waypoint::kernels::cpu::detail {
namespace {

template <int MR>
struct PanelAcc {
  __m512 v[MR][4];
  int64_t valid;  // the panel's rows that exist: the last panel may be short

  // Which of vector J's 16 lanes hold one of the panel's rows.
  __mmask16 lanes(int j) const {
    const int64_t left = std::clamp<int64_t>(valid - 16 * j, 0, 16);
    return static_cast<__mmask16>((1u << left) - 1);
  }

  // Zero for the first slice of k; y's partial sums for the next ones.
  PanelAcc(const MatmulArgs& a, int64_t i, int64_t n, KRange kr)
      : valid(std::min<int64_t>(kPanelRows, a.n - n)) {
#pragma GCC unroll 4
    for (int t = 0; t < MR; ++t) {
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
        v[t][j] = kr.begin == 0
                      ? _mm512_setzero_ps()
                      : _mm512_maskz_loadu_ps(lanes(j), a.y + (i + t) * a.ldy + n + 16 * j);
      }
    }
  }

  void store(const MatmulArgs& a, int64_t i, int64_t n) const {
#pragma GCC unroll 4
    for (int t = 0; t < MR; ++t) {
      float* y = a.y + (i + t) * a.ldy + n;
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) _mm512_mask_storeu_ps(y + 16 * j, lanes(j), v[t][j]);
    }
  }
};

}  // namespace
}  // namespace waypoint::kernels::cpu::detail
