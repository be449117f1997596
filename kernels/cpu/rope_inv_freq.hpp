#pragma once
// Rotary embedding frequencies: inv_freq[i] = theta^(-2i / rotary_dim) for
// i in [0, rotary_dim / 2), optionally rescaled for long context.
#include <cstddef>
#include <span>

namespace waypoint::kernels::cpu {

// inv_freq.size() must be rotary_dim / 2 (rotary_dim even and positive).
void rope_inv_freq(std::span<float> inv_freq, std::size_t rotary_dim, double theta);

// config.json's rope_scaling with "rope_type": "llama3" (Llama 3.1 and later).
struct Llama3RopeScaling {
  double factor = 8.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  double original_max_position_embeddings = 8192.0;
};

// Hugging Face's _compute_llama3_parameters: frequencies whose wavelength is shorter
// than original_max_position_embeddings / high_freq_factor are kept, those longer
// than original_max_position_embeddings / low_freq_factor are divided by factor, and
// the band between is interpolated linearly in original_max / wavelength.
void llama3_rope_inv_freq(std::span<float> inv_freq, std::size_t rotary_dim, double theta,
                          const Llama3RopeScaling& scaling);

}  // namespace waypoint::kernels::cpu
