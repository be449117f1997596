// The physical floor: a model's bytes and FLOPs per step, by hand on a small
// shape and against the published shapes' parameter counts, and the roofline.
#include "perf/fit_floor.hpp"

#include <gtest/gtest.h>

#include "modelgen/model_presets.hpp"

namespace waypoint::fit {
namespace {

// hidden 8, 2 q heads and 1 KV head of 4, MLP 16, 2 layers, vocabulary 10.
ModelConfig small_shape() {
  ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.vocab_size = 10;
  c.hidden_size = 8;
  c.intermediate_size = 16;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 1;
  c.head_dim = 4;
  return c;
}

TEST(FitFloor, ModelCostByHand) {
  const ModelCost f32 = model_cost(small_shape(), 4);
  // Per layer: q 8x8, k and v 8x4 each, o 8x8 = 192; MLP 3x8x16 = 384; two
  // norms 16. Two layers, the final norm 8, lm_head 10x8 = 80: 1272 weights.
  EXPECT_DOUBLE_EQ(f32.weight_bytes, 1272 * 4);
  EXPECT_DOUBLE_EQ(f32.kv_bytes_per_token, 2 * 2 * 4 * 4);  // K and V, 2 layers, width 4
  EXPECT_DOUBLE_EQ(f32.flops_per_token, 2 * (2 * (192 + 384) + 80));
  EXPECT_DOUBLE_EQ(f32.attention_flops_per_pair, 4 * 2 * 8);  // QK and PV, 2 layers, q width 8
  EXPECT_DOUBLE_EQ(model_cost(small_shape(), 2).weight_bytes, 1272 * 2);

  ModelConfig biased = small_shape();
  biased.attention_bias = true;  // Qwen2: q, k and v biases, 8 + 4 + 4 per layer
  EXPECT_DOUBLE_EQ(model_cost(biased, 1).weight_bytes, 1272 + 2 * 16);
}

// A step reads every weight but the embedding table, which it only gathers
// from; tied, the table is lm_head and is read whole.
TEST(FitFloor, WeightsReadAreTheParametersLessTheGatheredTable) {
  for (const char* name : {"llama-3.2-1b-shape", "llama-3.1-8b-shape"}) {
    const auto preset = tools::find_preset(name);
    ASSERT_TRUE(preset) << name;
    auto config =
        parse_model_config(tools::llama_config_json(*preset, 1, 2, "bfloat16").dump(), name);
    ASSERT_TRUE(config.ok()) << config.error().message;
    const double table = static_cast<double>(preset->vocab_size) * preset->hidden_size;
    const double read = static_cast<double>(tools::parameter_count(*preset)) -
                        (preset->tie_word_embeddings ? 0 : table);
    EXPECT_DOUBLE_EQ(model_cost(*config, 2).weight_bytes, read * 2) << name;
  }
}

TEST(FitFloor, RooflineTakesTheSlowerOfBytesAndFlops) {
  const ModelCost cost = model_cost(small_shape(), 4);
  StepRow decode;
  decode.decode_tokens = 2;
  decode.decode_ctx_tokens_sum = 100;
  // 1 GB/s: 5088 weight bytes + 100 tokens x 64 KV bytes = 11488 bytes, 11.488 us.
  EXPECT_NEAR(step_floor_us(cost, {1, 0}, decode), 11.488, 1e-9);
  EXPECT_NEAR(step_floor_us(cost, {1, 1000}, decode), 11.488, 1e-9) << "bytes-bound";

  StepRow prefill;
  prefill.prefill_tokens = 10;
  prefill.prefill_ctx_tokens_sum = 10;
  prefill.prefill_attention_pairs = 55;
  // 1e6 FLOP/s: 10 x 2464 + 55 x 64 = 28160 FLOPs, 28160 us; bytes take 5.728 us.
  EXPECT_NEAR(step_floor_us(cost, {1, 1e-6}, prefill), 28160, 1e-6);
  EXPECT_NEAR(step_floor_us(cost, {1, 0}, prefill), 5.728, 1e-9) << "bytes only";
}

TEST(FitFloor, KnownDevicesAreSeed003sTableAndTheH200) {
  ASSERT_TRUE(known_device("H100"));
  EXPECT_DOUBLE_EQ(known_device("H100")->memory_bandwidth_gb_s, 3350);
  EXPECT_DOUBLE_EQ(known_device("A100")->compute_tflops, 312);
  EXPECT_DOUBLE_EQ(known_device("H200")->memory_bandwidth_gb_s, 4800);
  EXPECT_FALSE(known_device("unknown"));
  EXPECT_FALSE(known_device("h100")) << "names are the table's, as --hw labels the CSVs";
}

}  // namespace
}  // namespace waypoint::fit
