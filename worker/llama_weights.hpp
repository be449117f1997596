#pragma once
// The f32 weights one tensor-parallel rank holds. Column-parallel layers
// (q/k/v, gate/up) keep this rank's output rows; row-parallel layers (o, down)
// keep its input columns, so each rank's partial outputs sum to the full one.
#include <cstdint>
#include <vector>

#include "base/result.hpp"
#include "worker/model_config.hpp"
#include "worker/weight_store.hpp"

namespace waypoint {

struct TpShard {
  int32_t rank = 0;
  int32_t world_size = 1;
};

struct LlamaLayerWeights {
  std::vector<float> input_layernorm;           // [hidden]
  std::vector<float> post_attention_layernorm;  // [hidden]
  std::vector<float> qkv_proj;  // [(q + k + v) rows of this shard, hidden]: one GEMM for all three
  std::vector<float> qkv_bias;  // same rows; empty without attention_bias
  std::vector<float> o_proj;    // [hidden, q heads of this shard * head_dim]
  std::vector<float> gate_up_proj;  // [2 * intermediate of this shard, hidden]: gate rows, then up
  std::vector<float> down_proj;     // [hidden, intermediate of this shard]
};

struct LlamaWeights {
  std::vector<float> embed_tokens;  // [vocab, hidden], whole on every rank
  std::vector<LlamaLayerWeights> layers;
  std::vector<float> norm;     // [hidden]
  std::vector<float> lm_head;  // [vocab, hidden]; empty when tied to embed_tokens

  const std::vector<float>& output_embedding() const {
    return lm_head.empty() ? embed_tokens : lm_head;
  }
};

// Heads and intermediate size must divide evenly by the TP size; the error
// says which does not.
Result<void> check_tp_divides(const ModelConfig& config, int32_t tp_size);

Result<LlamaWeights> load_llama_weights(const ModelConfig& config, const WeightStore& store,
                                        TpShard shard);

}  // namespace waypoint
