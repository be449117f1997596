#include "kernels/cpu/rope_inv_freq.hpp"

#include <cmath>
#include <numbers>

#include "kernels/cpu/shape_check.hpp"

namespace waypoint::kernels::cpu {
namespace {

// Computed in double and rounded once, so the float result is the correctly rounded
// value (Hugging Face computes in float32 and may differ in the last bit).
double base_inv_freq(std::size_t i, std::size_t rotary_dim, double theta) {
  return std::pow(theta, -static_cast<double>(2 * i) / static_cast<double>(rotary_dim));
}

void check(std::span<float> inv_freq, std::size_t rotary_dim, double theta) {
  detail::require(rotary_dim > 0 && rotary_dim % 2 == 0,
                  "rope_inv_freq: rotary_dim must be even and positive");
  detail::require(theta > 0.0, "rope_inv_freq: theta must be positive");
  detail::require_size(inv_freq.size(), rotary_dim / 2, "rope_inv_freq: inv_freq");
}

}  // namespace

void rope_inv_freq(std::span<float> inv_freq, std::size_t rotary_dim, double theta) {
  check(inv_freq, rotary_dim, theta);
  for (std::size_t i = 0; i < inv_freq.size(); ++i) {
    inv_freq[i] = static_cast<float>(base_inv_freq(i, rotary_dim, theta));
  }
}

void llama3_rope_inv_freq(std::span<float> inv_freq, std::size_t rotary_dim, double theta,
                          const Llama3RopeScaling& scaling) {
  check(inv_freq, rotary_dim, theta);
  detail::require(scaling.factor > 0.0, "llama3 rope_scaling: factor must be positive");
  detail::require(scaling.original_max_position_embeddings > 0.0,
                  "llama3 rope_scaling: original_max_position_embeddings must be positive");
  detail::require(
      scaling.low_freq_factor > 0.0 && scaling.high_freq_factor > scaling.low_freq_factor,
      "llama3 rope_scaling: need 0 < low_freq_factor < high_freq_factor");

  const double old_context = scaling.original_max_position_embeddings;
  const double low_freq_wavelen = old_context / scaling.low_freq_factor;
  const double high_freq_wavelen = old_context / scaling.high_freq_factor;
  for (std::size_t i = 0; i < inv_freq.size(); ++i) {
    const double freq = base_inv_freq(i, rotary_dim, theta);
    const double wavelen = 2.0 * std::numbers::pi / freq;
    double scaled = freq;
    if (wavelen > low_freq_wavelen) {
      scaled = freq / scaling.factor;
    } else if (wavelen >= high_freq_wavelen) {
      // Both band edges count as the band, as in Hugging Face; the interpolation is
      // continuous there, so this only matters for matching it bit for bit.
      const double smooth = (old_context / wavelen - scaling.low_freq_factor) /
                            (scaling.high_freq_factor - scaling.low_freq_factor);
      scaled = (1.0 - smooth) * freq / scaling.factor + smooth * freq;
    }
    inv_freq[i] = static_cast<float>(scaled);
  }
}

}  // namespace waypoint::kernels::cpu
