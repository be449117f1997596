#include "modelgen/model_presets.hpp"

namespace waypoint::tools {
namespace {

// tiny: 512 tokens (the built-in tokenizer's size), 2 layers of width 64; a forward pass
// is a few hundred thousand multiply-adds, so the demo answers instantly on any CPU. GQA
// (4 query heads sharing 2 KV heads) keeps the engine's GQA path exercised.
ModelPreset tiny() {
  return {.name = "tiny",
          .vocab_size = 512,
          .hidden_size = 64,
          .intermediate_size = 176,
          .num_hidden_layers = 2,
          .num_attention_heads = 4,
          .num_key_value_heads = 2,
          .head_dim = 16,
          .max_position_embeddings = 2048,
          .original_max_position_embeddings = 256,
          .tie_word_embeddings = true};
}

// small: GPT-2-small sized (hidden 768, 12 layers, 12 heads) with Llama-3's shape. The
// MLP is 2x hidden rather than Llama's 8/3x so that, with an untied 32000-token head, the
// total lands at 110.5M parameters (8/3x would give 124.7M, outside 110M +- 10%).
ModelPreset small() {
  return {.name = "small",
          .vocab_size = 32000,
          .hidden_size = 768,
          .intermediate_size = 1536,
          .num_hidden_layers = 12,
          .num_attention_heads = 12,
          .num_key_value_heads = 4,
          .head_dim = 64,
          .max_position_embeddings = 8192,
          .original_max_position_embeddings = 8192,
          .tie_word_embeddings = false};
}

// The two shapes below are for timing the device backend at real sizes (issue 8). They
// copy the published configs of Llama-3.2-1B and Llama-3.1-8B, but the weights make-model
// writes for them are random: they are NOT those models, generate nothing meaningful, and
// must never be served or reported as if they were. The "-shape" suffix says so.

// llama-3.2-1b-shape: Llama-3.2-1B's config (hidden 2048, 16 layers, 32 query heads
// sharing 8 KV heads of 64, SwiGLU 8192, 128256 tokens, tied embeddings): 1.24B
// parameters, 2.5 GB in bf16. Its tokenizer has Llama-3's layout too: 128000 BPE tokens,
// then the 256 special ones.
ModelPreset llama_3_2_1b_shape() {
  return {.name = "llama-3.2-1b-shape",
          .vocab_size = 128256,
          .hidden_size = 2048,
          .intermediate_size = 8192,
          .num_hidden_layers = 16,
          .num_attention_heads = 32,
          .num_key_value_heads = 8,
          .head_dim = 64,
          .max_position_embeddings = 131072,
          .original_max_position_embeddings = 8192,
          .tie_word_embeddings = true,
          .special_tokens = SpecialTokens::kLlama3};
}

// llama-3.1-8b-shape: Llama-3.1-8B's config (hidden 4096, 32 layers, 32 query heads
// sharing 8 KV heads of 128, SwiGLU 14336, 128256 tokens, untied lm_head): 8.03B
// parameters, 16 GB in bf16 (make-model holds 32 GB of f32 in memory while writing it).
// Llama-3's tokenizer layout, as above.
ModelPreset llama_3_1_8b_shape() {
  return {.name = "llama-3.1-8b-shape",
          .vocab_size = 128256,
          .hidden_size = 4096,
          .intermediate_size = 14336,
          .num_hidden_layers = 32,
          .num_attention_heads = 32,
          .num_key_value_heads = 8,
          .head_dim = 128,
          .max_position_embeddings = 131072,
          .original_max_position_embeddings = 8192,
          .tie_word_embeddings = false,
          .special_tokens = SpecialTokens::kLlama3};
}

}  // namespace

std::optional<ModelPreset> find_preset(std::string_view name) {
  if (name == "tiny") return tiny();
  if (name == "small") return small();
  if (name == "llama-3.2-1b-shape") return llama_3_2_1b_shape();
  if (name == "llama-3.1-8b-shape") return llama_3_1_8b_shape();
  return std::nullopt;
}

std::vector<std::string> preset_names() {
  return {"llama-3.1-8b-shape", "llama-3.2-1b-shape", "small", "tiny"};
}

int64_t parameter_count(const ModelPreset& p) {
  const int64_t h = p.hidden_size;
  const int64_t q = p.num_attention_heads * p.head_dim;
  const int64_t kv = p.num_key_value_heads * p.head_dim;
  const int64_t attention = h * q + 2 * h * kv + q * h;
  const int64_t mlp = 3 * h * p.intermediate_size;
  const int64_t norms = 2 * h;
  const int64_t embed = p.vocab_size * h;
  return embed + p.num_hidden_layers * (attention + mlp + norms) + h +
         (p.tie_word_embeddings ? 0 : embed);
}

nlohmann::ordered_json llama_config_json(const ModelPreset& p, int64_t bos_token_id,
                                         int64_t eos_token_id, std::string_view torch_dtype) {
  return {{"architectures", nlohmann::ordered_json::array({"LlamaForCausalLM"})},
          {"attention_bias", false},
          {"attention_dropout", 0.0},
          {"bos_token_id", bos_token_id},
          {"eos_token_id", eos_token_id},
          {"head_dim", p.head_dim},
          {"hidden_act", "silu"},
          {"hidden_size", p.hidden_size},
          {"initializer_range", 0.02},
          {"intermediate_size", p.intermediate_size},
          {"max_position_embeddings", p.max_position_embeddings},
          {"mlp_bias", false},
          {"model_type", "llama"},
          {"num_attention_heads", p.num_attention_heads},
          {"num_hidden_layers", p.num_hidden_layers},
          {"num_key_value_heads", p.num_key_value_heads},
          {"pretraining_tp", 1},
          {"rms_norm_eps", 1e-5},
          {"rope_scaling",
           {{"factor", 8.0},
            {"high_freq_factor", 4.0},
            {"low_freq_factor", 1.0},
            {"original_max_position_embeddings", p.original_max_position_embeddings},
            {"rope_type", "llama3"}}},
          {"rope_theta", 500000.0},
          {"tie_word_embeddings", p.tie_word_embeddings},
          {"torch_dtype", torch_dtype},
          {"use_cache", true},
          {"vocab_size", p.vocab_size}};
}

}  // namespace waypoint::tools
