#pragma once
// A linear layer's weight as the CPU kernels stream it: [rows, cols] (out
// features × in features, as Hugging Face stores nn.Linear), in the element
// type the checkpoint was trained in. bf16 stays bf16 in memory, so a decode
// step reads half the bytes that widening it to f32 would cost; the kernels
// widen or dot it in registers.
//
// f32 is row-major. bf16 is laid out in panels of 64 rows: panel P holds rows
// [64P, 64P+64) as [cols/2][64][2], each column pair of all 64 rows side by
// side (oneDNN calls this BA16a64b2a; docs/architecture.md, "CPU kernels").
// Why: a decode tile then reads one contiguous stream per panel instead of
// one 4 KiB row per output, which on this machine's prefetchers streams about
// a quarter faster (docs/benchmarks.md), each vdpbf16ps gets 16 outputs'
// pairs in one load with no horizontal sum, and prefill tiles reuse a panel
// from L2. Cols are padded to 32 (oneDNN's block depth) and rows to 64, with
// zeros.
#include <cstdint>
#include <span>
#include <vector>

#include "kernels/cpu/huge_page_allocator.hpp"

namespace waypoint::kernels::cpu {

enum class WeightType : uint8_t { kF32, kBf16 };

const char* to_string(WeightType type);

class WeightMatrix {
 public:
  WeightMatrix() = default;
  // Copies a row-major f32 [rows, cols] matrix; kBf16 rounds each element to
  // nearest-even, which is exact for weights that were bf16 on disk.
  static WeightMatrix pack(std::span<const float> data, int64_t rows, int64_t cols,
                           WeightType type);

  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  WeightType type() const { return type_; }
  bool empty() const { return rows_ == 0; }
  const float* f32() const { return f32_.data(); }
  // The first panel; panel P starts at bf16() + P * panel_elements().
  const uint16_t* bf16() const { return bf16_.data(); }
  int64_t padded_cols() const { return padded_cols_; }
  int64_t panel_elements() const { return padded_cols_ * kPanelRows; }
  // The weights' own bytes, without the panels' padding: what a decode step
  // must read.
  int64_t bytes() const;

  static constexpr int64_t kPanelRows = 64;
  static constexpr int64_t kPanelDepth = 32;

  // Row R widened to f32 (an embedding lookup).
  void row(int64_t r, float* out) const;

 private:
  // Where bf16 element (r, 0) lives in bf16_; element (r, c) is at
  // row_start(r) + bf16_column(c).
  int64_t row_start(int64_t r) const;
  static int64_t bf16_column(int64_t c) { return c / 2 * (kPanelRows * 2) + c % 2; }

  int64_t rows_ = 0;
  int64_t cols_ = 0;
  int64_t padded_cols_ = 0;
  WeightType type_ = WeightType::kF32;
  std::vector<float, HugePageAllocator<float>> f32_;
  std::vector<uint16_t, HugePageAllocator<uint16_t>> bf16_;
};

}  // namespace waypoint::kernels::cpu
