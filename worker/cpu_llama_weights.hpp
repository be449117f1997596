#pragma once
// The weights one CPU rank computes with: LlamaWeights (f32, as loaded)
// packed into the kernels' WeightMatrix in the element type the CPU kernels
// stream (docs/architecture.md, "CPU kernels"). A bf16 checkpoint stays bf16,
// so decode reads half the bytes; the tied LM head and the embedding table are
// one matrix.
#include <cstdint>
#include <vector>

#include "kernels/cpu/weight_matrix.hpp"
#include "worker/llama_weights.hpp"
#include "worker/model_config.hpp"

namespace waypoint {

struct CpuLayerWeights {
  std::vector<float> input_layernorm;
  std::vector<float> post_attention_layernorm;
  std::vector<float> qkv_bias;              // empty without attention_bias
  kernels::cpu::WeightMatrix qkv_proj;      // [q + k + v rows of this shard, hidden]
  kernels::cpu::WeightMatrix o_proj;        // [hidden, q rows of this shard]
  kernels::cpu::WeightMatrix gate_up_proj;  // [2 * intermediate of this shard, hidden]
  kernels::cpu::WeightMatrix down_proj;     // [hidden, intermediate of this shard]
};

struct CpuLlamaWeights {
  kernels::cpu::WeightMatrix embed_tokens;  // [vocab, hidden]
  std::vector<CpuLayerWeights> layers;
  std::vector<float> norm;
  kernels::cpu::WeightMatrix lm_head;  // empty when tied to embed_tokens

  const kernels::cpu::WeightMatrix& output_embedding() const {
    return lm_head.empty() ? embed_tokens : lm_head;
  }
};

// bf16 checkpoints compute with bf16 weights; f32 and f16 ones with f32 (f16
// has three more mantissa bits than bf16, so rounding it would lose them).
kernels::cpu::WeightType cpu_weight_type(const ModelConfig& config);

// Packs W, releasing each f32 tensor as soon as it is packed so that the peak
// stays near one copy of the model.
CpuLlamaWeights pack_cpu_weights(const ModelConfig& config, int32_t world_size, LlamaWeights w,
                                 kernels::cpu::WeightType type);

}  // namespace waypoint
