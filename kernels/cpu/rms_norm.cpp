#include "kernels/cpu/rms_norm.hpp"

#include <cmath>

#include "kernels/cpu/lane_reduce.hpp"
#include "kernels/cpu/shape_check.hpp"

namespace waypoint::kernels::cpu {
namespace {

void check_shapes(std::size_t out, std::size_t x, std::size_t weight, std::size_t num_tokens,
                  std::size_t hidden) {
  detail::require(hidden > 0, "rms_norm: hidden must be positive");
  detail::require_size(x, num_tokens * hidden, "rms_norm: x");
  detail::require_size(out, num_tokens * hidden, "rms_norm: out");
  detail::require_size(weight, hidden, "rms_norm: weight");
}

float inverse_rms(const float* row, std::size_t hidden, float eps) {
  const double mean_square = detail::sum_of_squares(row, hidden) / static_cast<double>(hidden);
  return static_cast<float>(1.0 / std::sqrt(mean_square + static_cast<double>(eps)));
}

// x and out may be equal: each element is read before it is written.
void scale_row(float* out, const float* x, const float* weight, std::size_t hidden, float inv_rms) {
  for (std::size_t j = 0; j < hidden; ++j) out[j] = x[j] * inv_rms * weight[j];
}

}  // namespace

void rms_norm(std::span<float> out, std::span<const float> x, std::span<const float> weight,
              std::size_t num_tokens, std::size_t hidden, float eps) {
  check_shapes(out.size(), x.size(), weight.size(), num_tokens, hidden);
  for (std::size_t t = 0; t < num_tokens; ++t) {
    const float* row = x.data() + t * hidden;
    scale_row(out.data() + t * hidden, row, weight.data(), hidden, inverse_rms(row, hidden, eps));
  }
}

void fused_add_rms_norm(std::span<float> out, std::span<const float> x, std::span<float> residual,
                        std::span<const float> weight, std::size_t num_tokens, std::size_t hidden,
                        float eps) {
  check_shapes(out.size(), x.size(), weight.size(), num_tokens, hidden);
  detail::require_size(residual.size(), num_tokens * hidden, "fused_add_rms_norm: residual");
  for (std::size_t t = 0; t < num_tokens; ++t) {
    const float* x_row = x.data() + t * hidden;
    float* r_row = residual.data() + t * hidden;
    for (std::size_t j = 0; j < hidden; ++j) r_row[j] += x_row[j];
    scale_row(out.data() + t * hidden, r_row, weight.data(), hidden,
              inverse_rms(r_row, hidden, eps));
  }
}

}  // namespace waypoint::kernels::cpu
