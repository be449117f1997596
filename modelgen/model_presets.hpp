#pragma once
// The shapes `waypoint make-model` can write: `tiny`, the built-in demo model that runs
// fast on two CPU cores, and `small`, about 110M parameters, for timings that resemble a
// real model. Both are Llama-3 shaped (GQA, llama3 RoPE scaling, SwiGLU). Two more,
// `llama-3.2-1b-shape` and `llama-3.1-8b-shape`, have the exact shapes of those models for
// timing the device backend; their weights are random, so they are not those models.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "modelgen/tokenizer_files.hpp"

namespace waypoint::tools {

struct ModelPreset {
  std::string name;
  int64_t vocab_size = 0;  // the tokenizer's size, special tokens included
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;
  int64_t max_position_embeddings = 0;
  int64_t original_max_position_embeddings = 0;  // rope_scaling's (llama3)
  bool tie_word_embeddings = false;
  SpecialTokens special_tokens = SpecialTokens::kAfterLearned;  // the tokenizer's layout
};

std::optional<ModelPreset> find_preset(std::string_view name);
// Sorted: "llama-3.1-8b-shape", "llama-3.2-1b-shape", "small", "tiny".
std::vector<std::string> preset_names();

// Parameters of a LlamaForCausalLM of that shape (lm_head counted only when untied).
int64_t parameter_count(const ModelPreset& p);

// config.json for P, as Hugging Face's LlamaConfig writes it (Llama-3.1 style: GQA,
// rope_theta 500000, llama3 rope_scaling). TORCH_DTYPE is "float32" or "bfloat16".
nlohmann::ordered_json llama_config_json(const ModelPreset& p, int64_t bos_token_id,
                                         int64_t eos_token_id, std::string_view torch_dtype);

}  // namespace waypoint::tools
