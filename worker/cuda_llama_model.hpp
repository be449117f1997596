#pragma once
// The Llama-family decoder on a CUDA device: llama_model.hpp's forward pass (the
// same TP-sharded weights, the same two all-reduces per layer) with bf16 weights
// and activations, cuBLAS GEMMs accumulating in f32, and kernels/cuda for the rest.
// The residual stream is bf16, as in Hugging Face and vLLM at bf16.
#include <cstdint>
#include <vector>

#include "kernels/bf16.hpp"
#include "kernels/cuda/gemm.hpp"
#include "worker/cuda_memory.hpp"
#include "worker/device_tp_communicator.hpp"
#include "worker/llama_weights.hpp"
#include "worker/model_config.hpp"

namespace waypoint {

// One rank's paged KV cache on the device, bf16: per layer one K and one V buffer of
// [num_slots, num_kv_heads, head_dim], slot = block_id * block_size + offset, the
// numbering of kv_cache.hpp. One allocation holds every layer.
class DeviceKvCache {
 public:
  DeviceKvCache() = default;
  // Throws std::runtime_error naming the size when the device cannot hold it.
  DeviceKvCache(int32_t num_layers, int32_t num_blocks, int32_t block_size, int32_t num_kv_heads,
                int32_t head_dim);

  kernels::bf16* key(int32_t layer) const { return data_.get() + (2 * size_t(layer)) * layer_; }
  kernels::bf16* value(int32_t layer) const {
    return data_.get() + (2 * size_t(layer) + 1) * layer_;
  }
  int32_t num_blocks() const { return num_blocks_; }
  int32_t block_size() const { return block_size_; }

  // Bytes one block takes across all layers, K and V (kv_sizing.hpp, bf16).
  static int64_t bytes_per_block(int32_t num_layers, int32_t block_size, int32_t num_kv_heads,
                                 int32_t head_dim);

 private:
  int32_t num_blocks_ = 0;
  int32_t block_size_ = 0;
  size_t layer_ = 0;  // elements of one layer's K (or V)
  DeviceBuffer<kernels::bf16> data_;
};

// One step's inputs, already on the device (cuda_model_runner.cpp stages them).
struct DeviceStep {
  const int32_t* input_ids = nullptr;     // [num_tokens]
  const int64_t* positions = nullptr;     // [num_tokens]
  const int64_t* slot_mapping = nullptr;  // [num_tokens]
  const int32_t* block_tables = nullptr;  // [num_seqs, max_blocks_per_seq]
  const int32_t* query_start = nullptr;   // [num_seqs + 1]
  const int32_t* seq_lens = nullptr;      // [num_seqs]: KV tokens after this step
  const int32_t* logits_rows = nullptr;   // [num_logits]: the token each logits row is for
  int32_t num_tokens = 0;
  int32_t num_seqs = 0;
  int32_t num_logits = 0;
  int32_t max_query_len = 0;
  int32_t max_seq_len = 0;
  int32_t max_blocks_per_seq = 0;
};

class CudaLlamaModel {
 public:
  // Converts the weights to bf16 and uploads them on the current device, dropping
  // each f32 tensor once it is up. Activations are allocated now for steps of up to
  // max_num_tokens tokens and max_num_logits logits rows, so a step allocates
  // nothing and the memory left for the KV cache can be measured before it exists.
  CudaLlamaModel(ModelConfig config, LlamaWeights weights, DeviceTpCommunicator& comm,
                 kernels::cuda::Stream stream, int32_t max_num_tokens, int32_t max_num_logits);

  // Enqueues the step on the stream: every scheduled token's K and V is written to
  // `cache` before attention reads it, layer by layer, as in LlamaModel::forward.
  // With `logits` (device, [num_logits, vocab] f32) it also runs the final norm and
  // the LM head on the rows step.logits_rows names; without, it stops after the
  // last layer (ranks that do not sample).
  void forward(const DeviceStep& step, const DeviceKvCache& cache, float* logits);

  const ModelConfig& config() const { return config_; }
  int32_t local_q_heads() const { return q_heads_; }
  int32_t local_kv_heads() const { return kv_heads_; }
  int32_t max_num_tokens() const { return max_tokens_; }
  int32_t max_num_logits() const { return max_logits_; }

 private:
  struct Layer {
    DeviceBuffer<kernels::bf16> input_layernorm, post_attention_layernorm;
    DeviceBuffer<kernels::bf16> qkv_proj, qkv_bias, o_proj, gate_up_proj, down_proj;
  };

  ModelConfig config_;
  DeviceTpCommunicator& comm_;
  kernels::cuda::Stream stream_;
  int32_t q_heads_;   // on this rank
  int32_t kv_heads_;  // on this rank
  int32_t inter_;     // intermediate size on this rank
  int32_t max_tokens_;
  int32_t max_logits_;
  kernels::cuda::Gemm gemm_;

  DeviceBuffer<kernels::bf16> embed_tokens_, norm_, lm_head_;  // lm_head_ empty when tied
  std::vector<Layer> layers_;
  DeviceBuffer<float> cos_sin_cache_;

  // Activations, [max_tokens_ rows] unless noted.
  DeviceBuffer<kernels::bf16> residual_, hidden_, qkv_, attn_, proj_, gate_up_, act_;
  DeviceBuffer<kernels::bf16> last_;  // [max_logits_, hidden]
};

}  // namespace waypoint
