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

}  // namespace
}  // namespace waypoint::kernels::cpu::detail
