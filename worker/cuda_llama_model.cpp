#include "worker/cuda_llama_model.hpp"

#include <cmath>
#include <span>
#include <stdexcept>
#include <string>

#include "kernels/cuda/bias_add.hpp"
#include "kernels/cuda/embedding.hpp"
#include "kernels/cuda/gather_rows.hpp"
#include "kernels/cuda/kv_cache_write.hpp"
#include "kernels/cuda/paged_attention.hpp"
#include "kernels/cuda/rms_norm.hpp"
#include "kernels/cuda/rotary_embedding.hpp"
#include "kernels/cuda/silu_and_mul.hpp"
#include "worker/kv_sizing.hpp"
#include "worker/rope_table.hpp"

namespace waypoint {

namespace kc = kernels::cuda;
using kernels::bf16;

namespace {

// Rounds to bf16 on the host and copies up; then frees the f32 tensor, so a large
// model never holds both whole copies in host memory at once.
DeviceBuffer<bf16> upload_bf16(std::vector<float>& host) {
  std::vector<bf16> converted(host.size());
  for (size_t i = 0; i < host.size(); ++i) converted[i] = kernels::float_to_bf16(host[i]);
  std::vector<float>().swap(host);
  DeviceBuffer<bf16> device(converted.size(), "cudaMalloc (weights)");
  if (!converted.empty()) {
    check_cuda(cudaMemcpy(device.get(), converted.data(), converted.size() * sizeof(bf16),
                          cudaMemcpyHostToDevice),
               "cudaMemcpy (weights)");
  }
  return device;
}

size_t count(int64_t a, int64_t b) { return static_cast<size_t>(a) * static_cast<size_t>(b); }

}  // namespace

DeviceKvCache::DeviceKvCache(int32_t num_layers, int32_t num_blocks, int32_t block_size,
                             int32_t num_kv_heads, int32_t head_dim)
    : num_blocks_(num_blocks),
      block_size_(block_size),
      layer_(count(int64_t{num_blocks} * block_size, int64_t{num_kv_heads} * head_dim)) {
  const size_t total = 2 * static_cast<size_t>(num_layers) * layer_;
  try {
    data_ = DeviceBuffer<bf16>(total, "cudaMalloc");
  } catch (const std::runtime_error& e) {
    throw std::runtime_error("cannot allocate " + std::to_string(num_blocks) + " KV blocks (" +
                             std::to_string(total * sizeof(bf16) >> 20) +
                             " MiB) on the device: " + e.what());
  }
}

int64_t DeviceKvCache::bytes_per_block(int32_t num_layers, int32_t block_size, int32_t num_kv_heads,
                                       int32_t head_dim) {
  return kv_bytes_per_block(num_layers, block_size, num_kv_heads, head_dim, sizeof(bf16));
}

CudaLlamaModel::CudaLlamaModel(ModelConfig config, LlamaWeights weights, DeviceTpCommunicator& comm,
                               kc::Stream stream, int32_t max_num_tokens, int32_t max_num_logits)
    : config_(std::move(config)),
      comm_(comm),
      stream_(stream),
      q_heads_(config_.num_attention_heads / comm.world_size()),
      kv_heads_(config_.num_key_value_heads / comm.world_size()),
      inter_(config_.intermediate_size / comm.world_size()),
      max_tokens_(max_num_tokens),
      max_logits_(max_num_logits),
      gemm_(stream) {
  if (max_num_tokens < 1 || max_num_logits < 1) {
    throw std::invalid_argument("CudaLlamaModel: a step needs room for a token and a logits row");
  }
  embed_tokens_ = upload_bf16(weights.embed_tokens);
  norm_ = upload_bf16(weights.norm);
  lm_head_ = upload_bf16(weights.lm_head);  // empty when tied
  for (LlamaLayerWeights& w : weights.layers) {
    Layer l;
    l.input_layernorm = upload_bf16(w.input_layernorm);
    l.post_attention_layernorm = upload_bf16(w.post_attention_layernorm);
    l.qkv_proj = upload_bf16(w.qkv_proj);
    l.qkv_bias = upload_bf16(w.qkv_bias);  // empty without attention_bias
    l.o_proj = upload_bf16(w.o_proj);
    l.gate_up_proj = upload_bf16(w.gate_up_proj);
    l.down_proj = upload_bf16(w.down_proj);
    layers_.push_back(std::move(l));
  }
  const std::vector<float> table = rope_cos_sin_table(config_);
  cos_sin_cache_ = DeviceBuffer<float>(table.size());
  check_cuda(cudaMemcpy(cos_sin_cache_.get(), table.data(), table.size() * sizeof(float),
                        cudaMemcpyHostToDevice),
             "cudaMemcpy (rope table)");

  const int64_t H = config_.hidden_size;
  const int64_t d = config_.head_dim;
  const int64_t qkv_width = (int64_t{q_heads_} + 2 * int64_t{kv_heads_}) * d;
  residual_ = DeviceBuffer<bf16>(count(max_tokens_, H));
  hidden_ = DeviceBuffer<bf16>(count(max_tokens_, H));
  qkv_ = DeviceBuffer<bf16>(count(max_tokens_, qkv_width));
  attn_ = DeviceBuffer<bf16>(count(max_tokens_, int64_t{q_heads_} * d));
  proj_ = DeviceBuffer<bf16>(count(max_tokens_, H));
  gate_up_ = DeviceBuffer<bf16>(count(max_tokens_, 2 * int64_t{inter_}));
  act_ = DeviceBuffer<bf16>(count(max_tokens_, inter_));
  last_ = DeviceBuffer<bf16>(count(max_logits_, H));
}

void CudaLlamaModel::forward(const DeviceStep& step, const DeviceKvCache& cache, float* logits) {
  if (step.num_tokens < 1 || step.num_tokens > max_tokens_ || step.num_logits > max_logits_) {
    throw std::invalid_argument("CudaLlamaModel: a step of " + std::to_string(step.num_tokens) +
                                " tokens and " + std::to_string(step.num_logits) +
                                " logits rows is outside the " + std::to_string(max_tokens_) +
                                " and " + std::to_string(max_logits_) + " it was sized for");
  }
  const auto T = static_cast<size_t>(step.num_tokens);
  const auto H = static_cast<size_t>(config_.hidden_size);
  const auto d = static_cast<size_t>(config_.head_dim);
  const size_t q_width = static_cast<size_t>(q_heads_) * d;
  const size_t kv_width = static_cast<size_t>(kv_heads_) * d;
  const size_t qkv_width = q_width + 2 * kv_width;
  const auto I = static_cast<size_t>(inter_);
  const auto eps = static_cast<float>(config_.rms_norm_eps);
  const kc::RotaryShape rotary{static_cast<size_t>(q_heads_), static_cast<size_t>(kv_heads_), d, d};
  bf16* const q = qkv_.get();
  bf16* const k = q + q_width;
  bf16* const v = k + kv_width;

  kc::embedding(residual_.get(), step.input_ids, T, embed_tokens_.get(),
                static_cast<size_t>(config_.vocab_size), H, stream_);
  for (size_t layer = 0; layer < layers_.size(); ++layer) {
    const Layer& w = layers_[layer];
    const auto li = static_cast<int32_t>(layer);

    // Attention block. After the first layer the previous MLP's output is still in
    // proj_: the fused kernel adds it to the residual and normalizes in one pass.
    if (layer == 0) {
      kc::rms_norm(hidden_.get(), residual_.get(), w.input_layernorm.get(), T, H, eps, stream_);
    } else {
      kc::fused_add_rms_norm(hidden_.get(), proj_.get(), residual_.get(), w.input_layernorm.get(),
                             T, H, eps, stream_);
    }
    gemm_.linear(qkv_.get(), hidden_.get(), w.qkv_proj.get(), T, qkv_width, H);
    if (w.qkv_bias.size() > 0) kc::bias_add(qkv_.get(), w.qkv_bias.get(), T, qkv_width, stream_);
    kc::rotary_embedding(step.positions, q, k, T, qkv_width, qkv_width, rotary,
                         cos_sin_cache_.get(), stream_);
    kc::write_kv_cache(cache.key(li), cache.value(li), k, v, qkv_width, qkv_width,
                       step.slot_mapping, T, static_cast<size_t>(kv_heads_), d, stream_);
    kc::PagedAttentionArgs args{};
    args.out = attn_.get();
    args.q = q;
    args.q_stride = qkv_width;
    args.key_cache = cache.key(li);
    args.value_cache = cache.value(li);
    args.block_tables = step.block_tables;
    args.query_start = step.query_start;
    args.seq_lens = step.seq_lens;
    args.num_seqs = step.num_seqs;
    args.num_tokens = step.num_tokens;
    args.max_query_len = step.max_query_len;
    args.max_seq_len = step.max_seq_len;
    args.max_blocks_per_seq = step.max_blocks_per_seq;
    args.num_q_heads = q_heads_;
    args.num_kv_heads = kv_heads_;
    args.head_dim = config_.head_dim;
    args.block_size = cache.block_size();
    args.scale = 1.0f / std::sqrt(static_cast<float>(d));
    kc::paged_attention(args, stream_);
    // Row-parallel: each rank's product is a partial sum of the full projection.
    gemm_.linear(proj_.get(), attn_.get(), w.o_proj.get(), T, H, q_width);
    comm_.all_reduce_sum(proj_.get(), T * H, stream_);

    // MLP block.
    kc::fused_add_rms_norm(hidden_.get(), proj_.get(), residual_.get(),
                           w.post_attention_layernorm.get(), T, H, eps, stream_);
    gemm_.linear(gate_up_.get(), hidden_.get(), w.gate_up_proj.get(), T, 2 * I, H);
    kc::silu_and_mul(act_.get(), gate_up_.get(), T, I, stream_);
    gemm_.linear(proj_.get(), act_.get(), w.down_proj.get(), T, H, I);
    comm_.all_reduce_sum(proj_.get(), T * H, stream_);
  }
  if (logits == nullptr || step.num_logits == 0) return;

  // The last MLP's output joins the residual, then the final norm; only the rows
  // that sample go through the LM head.
  kc::fused_add_rms_norm(hidden_.get(), proj_.get(), residual_.get(), norm_.get(), T, H, eps,
                         stream_);
  const auto L = static_cast<size_t>(step.num_logits);
  kc::gather_rows(last_.get(), hidden_.get(), step.logits_rows, L, H, stream_);
  const bf16* head = lm_head_.size() > 0 ? lm_head_.get() : embed_tokens_.get();
  gemm_.linear_f32(logits, last_.get(), head, L, static_cast<size_t>(config_.vocab_size), H);
}

}  // namespace waypoint
