#include "worker/cpu_llama_weights.hpp"

#include <utility>

namespace waypoint {

namespace kcpu = kernels::cpu;

kcpu::WeightType cpu_weight_type(const ModelConfig& config) {
  return config.torch_dtype == "bfloat16" ? kcpu::WeightType::kBf16 : kcpu::WeightType::kF32;
}

namespace {

kcpu::WeightMatrix take(std::vector<float>& f32, int64_t rows, int64_t cols,
                        kcpu::WeightType type) {
  kcpu::WeightMatrix m = kcpu::WeightMatrix::pack(f32, rows, cols, type);
  std::vector<float>().swap(f32);
  return m;
}

}  // namespace

CpuLlamaWeights pack_cpu_weights(const ModelConfig& c, int32_t world_size, LlamaWeights w,
                                 kcpu::WeightType type) {
  const int64_t H = c.hidden_size;
  const int64_t q = int64_t{c.num_attention_heads} / world_size * c.head_dim;
  const int64_t kv = int64_t{c.num_key_value_heads} / world_size * c.head_dim;
  const int64_t inter = c.intermediate_size / world_size;
  CpuLlamaWeights out;
  out.embed_tokens = take(w.embed_tokens, c.vocab_size, H, type);
  if (!w.lm_head.empty()) out.lm_head = take(w.lm_head, c.vocab_size, H, type);
  out.norm = std::move(w.norm);
  for (LlamaLayerWeights& l : w.layers) {
    CpuLayerWeights p;
    p.input_layernorm = std::move(l.input_layernorm);
    p.post_attention_layernorm = std::move(l.post_attention_layernorm);
    p.qkv_bias = std::move(l.qkv_bias);
    p.qkv_proj = take(l.qkv_proj, q + 2 * kv, H, type);
    p.o_proj = take(l.o_proj, H, q, type);
    p.gate_up_proj = take(l.gate_up_proj, 2 * inter, H, type);
    p.down_proj = take(l.down_proj, H, inter, type);
    out.layers.push_back(std::move(p));
  }
  return out;
}

}  // namespace waypoint
