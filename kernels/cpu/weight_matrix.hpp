#pragma once
// A linear layer's weight as the CPU kernels stream it: row-major [rows, cols]
// (out features × in features, as Hugging Face stores nn.Linear), in the
// element type the checkpoint was trained in. bf16 stays bf16 in memory, so a
// decode step reads half the bytes that widening it to f32 would cost; the
// kernels widen or dot it in registers.
#include <cstdint>
#include <span>
#include <vector>

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
  const uint16_t* bf16() const { return bf16_.data(); }
  int64_t bytes() const;

  // Row R widened to f32 (an embedding lookup).
  void row(int64_t r, float* out) const;

 private:
  int64_t rows_ = 0;
  int64_t cols_ = 0;
  WeightType type_ = WeightType::kF32;
  std::vector<float> f32_;
  std::vector<uint16_t> bf16_;
};

}  // namespace waypoint::kernels::cpu
