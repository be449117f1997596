#pragma once
// Internal to the matmul kernels: the loop nest shared by every instruction
// set. Included by each per-ISA file after its target pragma, and everything
// here has internal linkage, so each file gets its own copy compiled for its
// own instructions (no ODR clash between, say, the AVX2 and AVX-512 copies).
//
// A TILE computes an MR × NR block of y: MR tokens against NR weight rows,
// with one accumulator per pair, so every output element sums over k in the
// same order whatever MR is (batch invariance).
#include <algorithm>
#include <cstdint>

#include "kernels/cpu/matmul_isa.hpp"

namespace waypoint::kernels::cpu::detail {
namespace {

template <class Tile, int MR>
inline void tile_nr(int nr, const MatmulArgs& a, int64_t i, int64_t n) {
  switch (nr) {
    case 4:
      Tile::template run<MR, 4>(a, i, n);
      break;
    case 3:
      Tile::template run<MR, 3>(a, i, n);
      break;
    case 2:
      Tile::template run<MR, 2>(a, i, n);
      break;
    default:
      Tile::template run<MR, 1>(a, i, n);
  }
}

template <class Tile>
inline void tile(int mr, int nr, const MatmulArgs& a, int64_t i, int64_t n) {
  switch (mr) {
    case 4:
      tile_nr<Tile, 4>(nr, a, i, n);
      break;
    case 3:
      tile_nr<Tile, 3>(nr, a, i, n);
      break;
    case 2:
      tile_nr<Tile, 2>(nr, a, i, n);
      break;
    default:
      tile_nr<Tile, 1>(nr, a, i, n);
  }
}

// Rows [n_begin, n_end) in blocks of rows_per_block: each block of W is read
// from memory once and reused from L2 by every token tile; within a token
// tile, the tokens' rows of x stay in L1 across the block's weight rows.
template <class Tile>
void drive(const MatmulArgs& a, int64_t n_begin, int64_t n_end) {
  for (int64_t n0 = n_begin; n0 < n_end; n0 += a.rows_per_block) {
    const int64_t n1 = std::min(n_end, n0 + a.rows_per_block);
    for (int64_t i = 0; i < a.m; i += Tile::kMr) {
      const int mr = static_cast<int>(std::min<int64_t>(Tile::kMr, a.m - i));
      for (int64_t n = n0; n < n1; n += kTileRows) {
        tile<Tile>(mr, static_cast<int>(std::min<int64_t>(kTileRows, n1 - n)), a, i, n);
      }
    }
  }
}

// The bf16 panel that holds row N (a multiple of 64).
inline const uint16_t* panel(const MatmulArgs& a, int64_t n) {
  return static_cast<const uint16_t*>(a.w) + n / kPanelRows * a.panel_elements;
}

template <class Tile>
inline void panel_tile(int64_t mr, const MatmulArgs& a, int64_t i, int64_t n, KRange kr) {
  if constexpr (Tile::kMr >= 4) {
    if (mr == 4) return Tile::template run<4>(a, i, n, kr);
    if (mr == 3) return Tile::template run<3>(a, i, n, kr);
  }
  if constexpr (Tile::kMr >= 2) {
    if (mr == 2) return Tile::template run<2>(a, i, n, kr);
  }
  Tile::template run<1>(a, i, n, kr);
}

// Columns of a bf16 panel summed per pass when many tokens share it: 64 rows ×
// 2,048 columns is 256 KiB, which stays in L2 while every token passes over
// it, and four tokens' 2,048 columns of x stay in L1. A longer k (a down
// projection's 8,192) is taken in slices; each lane still sums its output in
// column order, so the result is bit-identical to one pass.
inline constexpr int64_t kPanelDepthPerPass = 2048;

// The same nest over bf16 panels: Tile::run<MR>(a, i, n, kr) computes MR
// tokens against the 64-row panel that starts at row n, over columns KR.
// N_BEGIN is a panel's first row. A few tokens (decode) take all of k in one
// pass: their x is small, and W streams from memory once either way.
template <class Tile>
void drive_panels(const MatmulArgs& a, int64_t n_begin, int64_t n_end) {
  const int64_t depth = a.m > Tile::kMr ? kPanelDepthPerPass : a.k;
  for (int64_t n = n_begin; n < n_end; n += kPanelRows) {
    for (int64_t k0 = 0; k0 < a.k; k0 += depth) {
      const KRange kr{k0, std::min(a.k, k0 + depth)};
      for (int64_t i = 0; i < a.m; i += Tile::kMr) {
        panel_tile<Tile>(std::min<int64_t>(Tile::kMr, a.m - i), a, i, n, kr);
      }
    }
  }
}

}  // namespace
}  // namespace waypoint::kernels::cpu::detail
