#pragma once
// A small Llama-family model with random weights, built in memory for tests
// that exercise the forward pass without files.
#include <random>

#include "worker/llama_weights.hpp"
#include "worker/model_config.hpp"

namespace waypoint::testing {

inline ModelConfig tiny_config(bool qwen2 = false) {
  ModelConfig c;
  c.architecture = qwen2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM";
  c.vocab_size = 96;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 10000.0;
  c.max_position_embeddings = 256;
  c.tie_word_embeddings = !qwen2;
  c.attention_bias = qwen2;
  c.eos_token_id = 1;
  if (!qwen2) c.rope_scaling = Llama3RopeScaling{8.0, 1.0, 4.0, 64};
  return c;
}

// The whole model (TP 1). Scales keep activations O(1), so logits are far from ties.
inline LlamaWeights random_weights(const ModelConfig& c, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto fill = [&](size_t n, float scale) {
    std::vector<float> v(n);
    for (float& x : v) x = normal(rng) * scale;
    return v;
  };
  auto ones_ish = [&](size_t n) {
    std::vector<float> v(n);
    for (float& x : v) x = 1.0f + 0.1f * normal(rng);
    return v;
  };
  const auto H = static_cast<size_t>(c.hidden_size);
  const auto D = static_cast<size_t>(c.head_dim);
  const size_t q = static_cast<size_t>(c.num_attention_heads) * D;
  const size_t kv = static_cast<size_t>(c.num_key_value_heads) * D;
  const auto I = static_cast<size_t>(c.intermediate_size);
  const float in_scale = 1.0f / std::sqrt(static_cast<float>(H));
  LlamaWeights w;
  w.embed_tokens = fill(static_cast<size_t>(c.vocab_size) * H, 1.0f);
  w.norm = ones_ish(H);
  if (!c.tie_word_embeddings) w.lm_head = fill(static_cast<size_t>(c.vocab_size) * H, in_scale);
  for (int32_t i = 0; i < c.num_hidden_layers; ++i) {
    LlamaLayerWeights l;
    l.input_layernorm = ones_ish(H);
    l.post_attention_layernorm = ones_ish(H);
    l.qkv_proj = fill((q + 2 * kv) * H, in_scale);
    if (c.attention_bias) l.qkv_bias = fill(q + 2 * kv, 0.1f);
    l.o_proj = fill(H * q, 1.0f / std::sqrt(static_cast<float>(q)));
    l.gate_up_proj = fill(2 * I * H, in_scale);
    l.down_proj = fill(H * I, 1.0f / std::sqrt(static_cast<float>(I)));
    w.layers.push_back(std::move(l));
  }
  return w;
}

}  // namespace waypoint::testing
