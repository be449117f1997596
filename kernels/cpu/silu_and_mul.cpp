#include "kernels/cpu/silu_and_mul.hpp"

#include <cmath>

#include "kernels/cpu/shape_check.hpp"

namespace waypoint::kernels::cpu {

void silu_and_mul(std::span<float> out, std::span<const float> input, std::size_t num_tokens,
                  std::size_t d) {
  detail::require_size(input.size(), num_tokens * 2 * d, "silu_and_mul: input");
  detail::require_size(out.size(), num_tokens * d, "silu_and_mul: out");
  for (std::size_t t = 0; t < num_tokens; ++t) {
    const float* gate = input.data() + t * 2 * d;
    const float* up = gate + d;
    float* o = out.data() + t * d;
    // For very negative g, exp(-g) overflows to inf and g / inf is -0: the right limit.
    for (std::size_t i = 0; i < d; ++i) o[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
  }
}

}  // namespace waypoint::kernels::cpu
