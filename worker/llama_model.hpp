#pragma once
// The Llama-family decoder on CPU: one batched forward pass over a step's mix
// of prefill chunks and decodes, reading and writing the paged KV cache.
// Matrix products go through OpenBLAS; the rest is kernels/cpu.
#include <cstdint>
#include <vector>

#include "worker/kv_cache.hpp"
#include "worker/llama_weights.hpp"
#include "worker/model_config.hpp"
#include "worker/request_state_cache.hpp"
#include "worker/tp_communicator.hpp"

namespace waypoint {

class LlamaModel {
 public:
  LlamaModel(ModelConfig config, LlamaWeights weights, TpCommunicator& comm);

  // Runs the step and fills `logits` [number of sampling requests, vocab] for
  // the requests whose `samples` flag is set, in batch order. Every scheduled
  // token's KV is written before any attention reads, layer by layer, so a
  // request may read blocks another request of the same step fills.
  void forward(const StepBatch& batch, KvCache& cache, std::vector<float>& logits);

  const ModelConfig& config() const { return config_; }
  int32_t local_q_heads() const { return q_heads_; }
  int32_t local_kv_heads() const { return kv_heads_; }

 private:
  void attention(const StepBatch& batch, const KvCache& cache, int32_t layer);

  ModelConfig config_;
  LlamaWeights weights_;
  TpCommunicator& comm_;
  int32_t q_heads_;   // on this rank
  int32_t kv_heads_;  // on this rank
  int32_t inter_;     // intermediate size on this rank
  std::vector<float> cos_sin_cache_;

  // Activations, reused from step to step.
  std::vector<float> x_, h_, qkv_, q_, k_, v_, attn_, proj_, gate_up_, act_, scores_, last_;
};

}  // namespace waypoint
