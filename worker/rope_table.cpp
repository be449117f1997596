#include "worker/rope_table.hpp"

#include "kernels/cpu/rope_inv_freq.hpp"
#include "kernels/cpu/rotary_embedding.hpp"

namespace waypoint {

namespace kcpu = kernels::cpu;

std::vector<float> rope_cos_sin_table(const ModelConfig& config) {
  const auto rotary_dim = static_cast<size_t>(config.head_dim);
  std::vector<float> inv_freq(rotary_dim / 2);
  if (config.rope_scaling) {
    const auto& s = *config.rope_scaling;
    kcpu::llama3_rope_inv_freq(
        inv_freq, rotary_dim, config.rope_theta,
        kcpu::Llama3RopeScaling{s.factor, s.low_freq_factor, s.high_freq_factor,
                                static_cast<double>(s.original_max_position_embeddings)});
  } else {
    kcpu::rope_inv_freq(inv_freq, rotary_dim, config.rope_theta);
  }
  std::vector<float> table(static_cast<size_t>(config.max_position_embeddings) * rotary_dim);
  kcpu::rope_cos_sin_cache(table, static_cast<size_t>(config.max_position_embeddings), inv_freq);
  return table;
}

}  // namespace waypoint
