#include "kernels/cpu/weight_matrix.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "kernels/bf16.hpp"

namespace waypoint::kernels::cpu {

const char* to_string(WeightType type) { return type == WeightType::kBf16 ? "bf16" : "f32"; }

WeightMatrix WeightMatrix::pack(std::span<const float> data, int64_t rows, int64_t cols,
                                WeightType type) {
  if (rows < 0 || cols < 0 || data.size() != static_cast<size_t>(rows * cols)) {
    throw std::invalid_argument("WeightMatrix::pack: " + std::to_string(data.size()) +
                                " elements for a [" + std::to_string(rows) + ", " +
                                std::to_string(cols) + "] matrix");
  }
  WeightMatrix m;
  m.rows_ = rows;
  m.cols_ = cols;
  m.type_ = type;
  m.padded_cols_ = cols;
  if (type == WeightType::kF32) {
    m.f32_.assign(data.begin(), data.end());
    return m;
  }
  m.padded_cols_ = (cols + kPanelDepth - 1) / kPanelDepth * kPanelDepth;
  const int64_t panels = (rows + kPanelRows - 1) / kPanelRows;
  m.bf16_.assign(static_cast<size_t>(panels * m.panel_elements()), 0);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      m.bf16_[static_cast<size_t>(m.bf16_at(r, c))] = float_to_bf16(data[r * cols + c]).bits;
    }
  }
  return m;
}

int64_t WeightMatrix::bf16_at(int64_t r, int64_t c) const {
  return r / kPanelRows * panel_elements() + c / 2 * (kPanelRows * 2) + r % kPanelRows * 2 + c % 2;
}

int64_t WeightMatrix::bytes() const { return rows_ * cols_ * (type_ == WeightType::kBf16 ? 2 : 4); }

void WeightMatrix::row(int64_t r, float* out) const {
  if (type_ == WeightType::kF32) {
    std::copy_n(f32_.data() + r * cols_, cols_, out);
    return;
  }
  for (int64_t c = 0; c < cols_; ++c) {
    out[c] = bf16_to_float(kernels::bf16{bf16_[static_cast<size_t>(bf16_at(r, c))]});
  }
}

}  // namespace waypoint::kernels::cpu
