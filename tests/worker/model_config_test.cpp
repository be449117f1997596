#include <gtest/gtest.h>

#include "tests/worker/scratch_dir.hpp"
#include "worker/model_config.hpp"

namespace waypoint {
namespace {

// Llama 3.2 1B's config.json, abridged.
constexpr const char* kLlama32 = R"({
  "architectures": ["LlamaForCausalLM"],
  "bos_token_id": 128000,
  "eos_token_id": 128001,
  "head_dim": 64,
  "hidden_size": 2048,
  "intermediate_size": 8192,
  "max_position_embeddings": 131072,
  "num_attention_heads": 32,
  "num_hidden_layers": 16,
  "num_key_value_heads": 8,
  "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 500000.0,
  "tie_word_embeddings": true,
  "torch_dtype": "bfloat16",
  "vocab_size": 128256
})";

// Qwen2.5 0.5B's, abridged; note the list of eos ids some Qwen configs carry.
constexpr const char* kQwen2 = R"({
  "architectures": ["Qwen2ForCausalLM"],
  "bos_token_id": 151643,
  "eos_token_id": [151645, 151643],
  "hidden_size": 896,
  "intermediate_size": 4864,
  "max_position_embeddings": 32768,
  "num_attention_heads": 14,
  "num_hidden_layers": 24,
  "num_key_value_heads": 2,
  "rms_norm_eps": 1e-06,
  "rope_scaling": null,
  "rope_theta": 1000000.0,
  "tie_word_embeddings": true,
  "torch_dtype": "bfloat16",
  "vocab_size": 151936
})";

TEST(ModelConfig, LlamaWithLlama3RopeScaling) {
  auto c = parse_model_config(kLlama32, "/m/config.json");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->architecture, "LlamaForCausalLM");
  EXPECT_EQ(c->hidden_size, 2048);
  EXPECT_EQ(c->num_key_value_heads, 8);
  EXPECT_EQ(c->head_dim, 64);
  EXPECT_DOUBLE_EQ(c->rms_norm_eps, 1e-5);
  EXPECT_DOUBLE_EQ(c->rope_theta, 500000.0);
  ASSERT_TRUE(c->rope_scaling.has_value());
  EXPECT_DOUBLE_EQ(c->rope_scaling->factor, 32.0);
  EXPECT_DOUBLE_EQ(c->rope_scaling->low_freq_factor, 1.0);
  EXPECT_DOUBLE_EQ(c->rope_scaling->high_freq_factor, 4.0);
  EXPECT_EQ(c->rope_scaling->original_max_position_embeddings, 8192);
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_FALSE(c->attention_bias);
  EXPECT_EQ(c->bos_token_id, 128000);
  EXPECT_EQ(c->eos_token_id, 128001);
  EXPECT_EQ(c->max_position_embeddings, 131072);
  EXPECT_EQ(c->torch_dtype, "bfloat16");
}

TEST(ModelConfig, Qwen2HasBiasesAndTakesTheFirstEos) {
  auto c = parse_model_config(kQwen2, "/m/config.json");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->architecture, "Qwen2ForCausalLM");
  EXPECT_TRUE(c->attention_bias);
  EXPECT_EQ(c->eos_token_id, 151645);
  EXPECT_EQ(c->head_dim, 64);  // 896 / 14
  EXPECT_FALSE(c->rope_scaling.has_value());
}

TEST(ModelConfig, DefaultsAndExplicitAttentionBias) {
  auto c = parse_model_config(R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 32,
      "hidden_size": 16, "intermediate_size": 48, "num_hidden_layers": 2,
      "num_attention_heads": 4, "attention_bias": true})",
                              "/m/config.json");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->num_key_value_heads, 4);
  EXPECT_EQ(c->head_dim, 4);
  EXPECT_TRUE(c->attention_bias);
  EXPECT_FALSE(c->tie_word_embeddings);
  EXPECT_FALSE(c->eos_token_id.has_value());
  EXPECT_DOUBLE_EQ(c->rope_theta, 10000.0);
}

std::string error_of(const std::string& json) {
  auto c = parse_model_config(json, "/m/config.json");
  return c.ok() ? std::string("(parsed)") : c.error().message;
}

TEST(ModelConfig, ErrorsAreOneLineNamingTheFile) {
  const std::string base = R"("vocab_size": 32, "hidden_size": 16, "intermediate_size": 48,
      "num_hidden_layers": 2)";
  EXPECT_EQ(error_of(R"({"architectures": ["GPT2LMHeadModel"]})"),
            "/m/config.json: unknown architecture 'GPT2LMHeadModel' (supported: "
            "LlamaForCausalLM, Qwen2ForCausalLM)");
  EXPECT_EQ(error_of(R"({"architectures": ["LlamaForCausalLM"], )" + base + "}"),
            "/m/config.json: missing 'num_attention_heads'");
  EXPECT_EQ(error_of(R"({"architectures": ["LlamaForCausalLM"], )" + base +
                     R"(, "num_attention_heads": 3})"),
            "/m/config.json: hidden_size (16) is not divisible by num_attention_heads (3)");
  EXPECT_EQ(error_of(R"({"architectures": ["LlamaForCausalLM"], )" + base +
                     R"(, "num_attention_heads": 4, "num_key_value_heads": 3})"),
            "/m/config.json: num_attention_heads (4) is not a multiple of num_key_value_heads "
            "(3)");
  EXPECT_EQ(error_of(R"({"architectures": ["LlamaForCausalLM"], )" + base +
                     R"(, "num_attention_heads": 0})"),
            "/m/config.json: 'num_attention_heads' must be positive, got 0");
  EXPECT_EQ(error_of(R"({"architectures": ["LlamaForCausalLM"], )" + base +
                     R"(, "num_attention_heads": 4, "rope_scaling": {"type": "linear",
                     "factor": 2.0}})"),
            "/m/config.json: rope_scaling type 'linear' is not supported (supported: llama3)");
  EXPECT_EQ(error_of(R"({"architectures": ["LlamaForCausalLM"], )" + base +
                     R"(, "num_attention_heads": "four"})"),
            "/m/config.json: 'num_attention_heads' must be an integer, got \"four\"");
  EXPECT_EQ(error_of("{"), "/m/config.json: not valid JSON");
}

TEST(ModelConfig, MissingFileIsNamed) {
  testing::ScratchDir dir;
  auto c = load_model_config(dir.path());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message, (dir / "config.json").string() + ": not found");
  testing::write_text(dir / "config.json", kQwen2);
  EXPECT_TRUE(load_model_config(dir.path()).ok());
}

}  // namespace
}  // namespace waypoint
