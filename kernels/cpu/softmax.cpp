#include "kernels/cpu/softmax.hpp"

#include <cmath>

#include "kernels/cpu/lane_reduce.hpp"

namespace waypoint::kernels::cpu {

void softmax(std::span<float> row) {
  float* x = row.data();
  const std::size_t n = row.size();
  if (n == 0) return;
  const float max = detail::max(x, n);
  for (std::size_t i = 0; i < n; ++i) x[i] = std::exp(x[i] - max);
  // The max element contributes exp(0) = 1, so the sum is at least 1.
  const auto inv_sum = static_cast<float>(1.0 / detail::sum(x, n));
  for (std::size_t i = 0; i < n; ++i) x[i] *= inv_sum;
}

}  // namespace waypoint::kernels::cpu
