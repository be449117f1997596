#pragma once
// The Llama-family decoder on CPU: one batched forward pass over a step's mix
// of prefill chunks and decodes, reading and writing the paged KV cache.
// Matrix products and attention run on the rank's own thread pool through
// kernels/cpu; the elementwise layers run on the calling thread.
#include <cstdint>
#include <vector>

#include "kernels/cpu/matmul.hpp"
#include "kernels/cpu/paged_attention.hpp"
#include "kernels/cpu/thread_pool.hpp"
#include "worker/cpu_llama_weights.hpp"
#include "worker/kv_cache.hpp"
#include "worker/llama_weights.hpp"
#include "worker/model_config.hpp"
#include "worker/request_state_cache.hpp"
#include "worker/tp_communicator.hpp"

namespace waypoint {

// How a rank computes on CPU.
struct CpuCompute {
  kernels::cpu::WeightType weight_type = kernels::cpu::WeightType::kF32;
  int32_t num_threads = 0;  // 0: this host's cores shared evenly among the TP ranks
  std::vector<int> cpus;    // cores to pin the threads to; empty: no pinning
};

class LlamaModel {
 public:
  LlamaModel(ModelConfig config, LlamaWeights weights, TpCommunicator& comm,
             const CpuCompute& compute = {});

  // Runs the step and fills `logits` [number of sampling requests, vocab] for
  // the requests whose `samples` flag is set, in batch order. Every scheduled
  // token's KV is written before any attention reads, layer by layer, so a
  // request may read blocks another request of the same step fills.
  void forward(const StepBatch& batch, KvCache& cache, std::vector<float>& logits);

  const ModelConfig& config() const { return config_; }
  int32_t local_q_heads() const { return q_heads_; }
  int32_t local_kv_heads() const { return kv_heads_; }
  int num_threads() const { return pool_.size(); }
  kernels::cpu::CpuIsa isa() const { return matmul_.isa(); }

 private:
  void embed(const StepBatch& batch);
  void attention_block(const StepBatch& batch, KvCache& cache, int32_t layer);
  void mlp_block(int32_t layer);
  void lm_head(const StepBatch& batch, std::vector<float>& logits);

  ModelConfig config_;
  TpCommunicator& comm_;
  int32_t q_heads_;   // on this rank
  int32_t kv_heads_;  // on this rank
  int32_t inter_;     // intermediate size on this rank
  CpuLlamaWeights weights_;
  std::vector<float> cos_sin_cache_;
  kernels::cpu::ThreadPool pool_;
  kernels::cpu::Matmul matmul_;
  kernels::cpu::PagedAttention attention_;

  // Activations, reused from step to step.
  std::vector<float> x_, h_, qkv_, q_, k_, v_, attn_, proj_, gate_up_, act_, last_;
  std::vector<kernels::cpu::AttentionQuery> queries_;
};

}  // namespace waypoint
