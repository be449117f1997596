#pragma once
// Internal to the matmul kernels: the per-instruction-set entry points that
// matmul.cpp dispatches to. Each is compiled in its own file for its own
// instruction set (docs/architecture.md, "CPU kernels").
#include <cstdint>

namespace waypoint::kernels::cpu::detail {

struct MatmulArgs {
  const void* x;  // [m, ldx]: f32, or bf16 bits for the *_bf16 kernels
  int64_t ldx;
  int64_t m;
  const void* w;  // [n, k] row-major: f32 or bf16 bits
  int64_t k;
  float* y;  // [m, ldy]
  int64_t ldy;
  int64_t rows_per_block;  // W rows kept in L2 while every token passes over them
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

// How many rows each tile kernel computes at once; chunks handed to threads
// are multiples of it.
inline constexpr int64_t kTileRows = 4;

}  // namespace waypoint::kernels::cpu::detail
