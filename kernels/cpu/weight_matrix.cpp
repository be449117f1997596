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
    uint16_t* out = m.bf16_.data() + m.row_start(r);
    for (int64_t c = 0; c < cols; ++c) out[bf16_column(c)] = float_to_bf16(data[r * cols + c]).bits;
  }
  return m;
}

int64_t WeightMatrix::row_start(int64_t r) const {
  return r / kPanelRows * panel_elements() + r % kPanelRows * 2;
}

int64_t WeightMatrix::bytes() const { return rows_ * cols_ * (type_ == WeightType::kBf16 ? 2 : 4); }

void WeightMatrix::row(int64_t r, float* out) const {
  if (type_ == WeightType::kF32) {
    std::copy_n(f32_.data() + r * cols_, cols_, out);
    return;
  }
  const uint16_t* in = bf16_.data() + row_start(r);
  for (int64_t c = 0; c < cols_; ++c) out[c] = bf16_to_float(kernels::bf16{in[bf16_column(c)]});
}

}  // namespace waypoint::kernels::cpu
