#pragma once
// Internal to the matmul kernels: the per-instruction-set entry points that
// matmul.cpp dispatches to. Each is compiled in its own file for its own
// instruction set (docs/architecture.md, "CPU kernels").
#include <cstdint>

#include "kernels/cpu/weight_matrix.hpp"

namespace waypoint::kernels::cpu::detail {

// How many rows each tile kernel computes at once; chunks handed to threads
// are multiples of it: four rows of row-major f32 weights, or one 64-row
// panel of bf16 ones.
inline constexpr int64_t kTileRows = 4;
inline constexpr int64_t kPanelRows = WeightMatrix::kPanelRows;

struct MatmulArgs {
  const void* x;  // [m, ldx]: f32, or bf16 bits for the *_bf16 kernels
  int64_t ldx;
  int64_t m;
  // f32: [n, k] row-major. bf16 bits: WeightMatrix's 64-row panels, panel P
  // at w + P * panel_elements.
  const void* w;
  int64_t n;
  int64_t k;
  int64_t panel_elements;
  float* y;  // [m, ldy]
  int64_t ldy;
  int64_t rows_per_block;  // W rows kept in L2 while every token passes over them
};

// Columns [begin, end) of x and W: a bf16 tile sums these into y, starting
// from zero when begin is 0 and from y's partial sums otherwise. Begin is even.
struct KRange {
  int64_t begin;
  int64_t end;
};

// Each computes y[:, n_begin:n_end) for all m rows of x.
using MatmulRows = void (*)(const MatmulArgs&, int64_t n_begin, int64_t n_end);

void rows_f32w_scalar(const MatmulArgs&, int64_t, int64_t);
void rows_bf16w_scalar(const MatmulArgs&, int64_t, int64_t);
void rows_f32w_avx2(const MatmulArgs&, int64_t, int64_t);
void rows_bf16w_avx2(const MatmulArgs&, int64_t, int64_t);
void rows_f32w_avx512(const MatmulArgs&, int64_t, int64_t);
void rows_bf16w_avx512(const MatmulArgs&, int64_t, int64_t);
// x in bf16 as well, dotted pairwise into f32 accumulators by vdpbf16ps.
void rows_bf16_avx512bf16(const MatmulArgs&, int64_t, int64_t);
void to_bf16_avx512bf16(const float* in, uint16_t* out, int64_t n);

}  // namespace waypoint::kernels::cpu::detail
