#include "perf/fit_floor.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace waypoint::fit {

std::optional<DevicePeaks> known_device(std::string_view name) {
  // Seed 003's table (memory_bandwidth_gb_s, compute_tflops_fp16), and the
  // H200's data-sheet figures: H100's compute with HBM3e.
  static constexpr std::array<std::pair<std::string_view, DevicePeaks>, 3> kDevices{{
      {"H100", {3350, 989}},
      {"H200", {4800, 989}},
      {"A100", {2039, 312}},
  }};
  for (const auto& [known, peaks] : kDevices) {
    if (known == name) return peaks;
  }
  return std::nullopt;
}

ModelCost model_cost(const ModelConfig& c, double bytes_per_element) {
  const double h = c.hidden_size;
  const double q = static_cast<double>(c.num_attention_heads) * c.head_dim;
  const double kv = static_cast<double>(c.num_key_value_heads) * c.head_dim;
  const double layers = c.num_hidden_layers;
  const double attention_matrices = h * q + 2 * h * kv + q * h;
  const double attention_biases = c.attention_bias ? q + 2 * kv : 0;
  const double mlp = 3 * h * c.intermediate_size;
  const double norms = 2 * h;
  const double lm_head = static_cast<double>(c.vocab_size) * h;
  ModelCost cost;
  cost.weight_bytes =
      (layers * (attention_matrices + attention_biases + mlp + norms) + h + lm_head) *
      bytes_per_element;
  cost.kv_bytes_per_token = 2 * layers * kv * bytes_per_element;
  cost.flops_per_token = 2 * (layers * (attention_matrices + mlp) + lm_head);
  cost.attention_flops_per_pair = 4 * layers * q;
  return cost;
}

double step_floor_us(const ModelCost& cost, const DevicePeaks& peaks, const StepRow& s) {
  const double bytes = cost.weight_bytes + cost.kv_bytes_per_token *
                                               (s.decode_ctx_tokens_sum + s.prefill_ctx_tokens_sum);
  double seconds = bytes / (peaks.memory_bandwidth_gb_s * 1e9);
  if (peaks.compute_tflops > 0) {
    const double flops =
        cost.flops_per_token * (s.prefill_tokens + s.decode_tokens) +
        cost.attention_flops_per_pair * (s.decode_ctx_tokens_sum + s.prefill_attention_pairs);
    seconds = std::max(seconds, flops / (peaks.compute_tflops * 1e12));
  }
  return seconds * 1e6;
}

}  // namespace waypoint::fit
