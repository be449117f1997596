#pragma once
// The linear layers' matrix product on CPU: y[m, n] = x[m, k] · Wᵀ, with W a
// WeightMatrix [n, k] in f32 or bf16. One kernel family serves decode (m of a
// few rows: a matrix-vector product bound by memory, each weight streamed once
// across all threads) and prefill (m in the hundreds: W is cut into blocks
// that stay in L2 while every token's row passes over them).
//
// The threads split W's rows, never k, so each output element is one
// accumulation in a fixed order: a token's result does not depend on which
// other tokens share its step (batch invariance, docs/architecture.md). From
// kLibraryMinRows tokens on, an f32 product is compute-bound and goes to
// oneDNN's matmul, which packs W per call and then runs near the chip's peak;
// its rows agree with the tiles' to f32 rounding, not bit for bit. bf16
// products stay on the panel tiles at every m: their panels are already
// packed, and they keep bf16 rows bit-identical at any batch.
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/cpu/cpu_isa.hpp"
#include "kernels/cpu/thread_pool.hpp"
#include "kernels/cpu/weight_matrix.hpp"

namespace waypoint::kernels::cpu {

namespace detail {
class OnednnMatmul;
}

class Matmul {
 public:
  // Below this many tokens, oneDNN's per-call packing of W costs more than
  // its faster inner kernel saves (docs/benchmarks.md).
  static constexpr int64_t kLibraryMinRows = 64;

  Matmul(ThreadPool& pool, CpuIsa isa, int64_t library_min_rows = kLibraryMinRows);
  Matmul(const Matmul&) = delete;
  Matmul& operator=(const Matmul&) = delete;
  ~Matmul();

  // y[m, w.rows()] = x[m, w.cols()] · wᵀ; x and y are row-major and dense.
  void operator()(const float* x, int64_t m, const WeightMatrix& w, float* y);

  CpuIsa isa() const { return isa_; }

 private:
  void library(const float* x, int64_t m, const WeightMatrix& w, float* y);
  const uint16_t* to_bf16(const float* x, int64_t m, int64_t k, int64_t ld);

  ThreadPool& pool_;
  CpuIsa isa_;
  int64_t library_min_rows_;
  std::vector<uint16_t> x_bf16_;  // x rounded to bf16 for vdpbf16ps, reused across calls
  std::vector<std::unique_ptr<detail::OnednnMatmul>> onednn_;  // one per pool thread
};

}  // namespace waypoint::kernels::cpu
