#pragma once
// Internal to the matmul kernels: a prefill-sized f32 product through
// oneDNN's matmul, which runs close to the chip's peak. (bf16 products stay on
// the panel tiles, which match or beat it: oneDNN 2.6 takes their layout only
// at a fixed M, docs/benchmarks.md.) Each pool thread owns one OnednnMatmul
// and computes its own slice of W's rows with oneDNN running single-threaded
// inside it, so the split stays by rows (batch invariance) and oneDNN's OpenMP
// threads never compete with the pool for the cores.
#include <cstdint>
#include <map>
#include <memory>
#include <tuple>

#include "kernels/cpu/weight_matrix.hpp"

namespace waypoint::kernels::cpu::detail {

class OnednnMatmul {
 public:
  OnednnMatmul();
  OnednnMatmul(const OnednnMatmul&) = delete;
  OnednnMatmul& operator=(const OnednnMatmul&) = delete;
  ~OnednnMatmul();

  // y[:, n_begin:n_end) = x[m, k] · W[n_begin:n_end)ᵀ for an f32 W, y
  // row-major with w.rows() columns.
  void run(const float* x, int64_t m, const WeightMatrix& w, int64_t n_begin, int64_t n_end,
           float* y);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace waypoint::kernels::cpu::detail
