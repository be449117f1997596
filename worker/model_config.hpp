#pragma once
// A Llama-family model's shape, read from a Hugging Face config.json
// (LlamaForCausalLM, Qwen2ForCausalLM) or a llama2.c checkpoint header.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.hpp"

namespace waypoint {

// rope_scaling {"rope_type": "llama3", ...} as Hugging Face defines it.
struct Llama3RopeScaling {
  double factor = 8.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

struct ModelConfig {
  std::string architecture;  // "LlamaForCausalLM" or "Qwen2ForCausalLM"
  int32_t vocab_size = 0;
  int32_t hidden_size = 0;
  int32_t intermediate_size = 0;
  int32_t num_hidden_layers = 0;
  int32_t num_attention_heads = 0;
  int32_t num_key_value_heads = 0;  // defaults to num_attention_heads
  int32_t head_dim = 0;             // defaults to hidden_size / num_attention_heads
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  std::optional<Llama3RopeScaling> rope_scaling;
  int32_t max_position_embeddings = 2048;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v projections carry biases (Qwen2)
  std::optional<int32_t> bos_token_id;
  std::optional<int32_t> eos_token_id;  // the first one when config.json lists several
  std::string torch_dtype = "float32";
};

// Reads DIR/config.json. The error is one line naming the file and the problem.
Result<ModelConfig> load_model_config(const std::filesystem::path& model_dir);

// Parses config.json text; SOURCE (a path) starts every error message.
Result<ModelConfig> parse_model_config(std::string_view text, const std::string& source);

// Checks sizes are positive, heads group evenly, head_dim is even and token ids fit the
// vocabulary. load_model_config runs it; other loaders (llama2.c) call it themselves.
Result<void> validate_model_config(const ModelConfig& config, const std::string& source);

}  // namespace waypoint
