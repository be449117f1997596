#include "worker/llama_model.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <thread>

#include "kernels/cpu/rms_norm.hpp"
#include "kernels/cpu/rotary_embedding.hpp"
#include "kernels/cpu/silu_and_mul.hpp"
#include "worker/rope_table.hpp"

namespace waypoint {

namespace kcpu = kernels::cpu;

namespace {

int pool_size(const CpuCompute& c, int32_t world_size) {
  if (c.num_threads > 0) return c.num_threads;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::max(1, cores / std::max(1, world_size));
}

}  // namespace

LlamaModel::LlamaModel(ModelConfig config, LlamaWeights weights, TpCommunicator& comm,
                       const CpuCompute& compute)
    : config_(std::move(config)),
      comm_(comm),
      q_heads_(config_.num_attention_heads / comm.world_size()),
      kv_heads_(config_.num_key_value_heads / comm.world_size()),
      inter_(config_.intermediate_size / comm.world_size()),
      weights_(
          pack_cpu_weights(config_, comm.world_size(), std::move(weights), compute.weight_type)),
      cos_sin_cache_(rope_cos_sin_table(config_)),
      pool_(pool_size(compute, comm.world_size()), compute.cpus),
      matmul_(pool_, kcpu::detect_cpu_isa()),
      attention_(pool_) {}

void LlamaModel::embed(const StepBatch& batch) {
  const int64_t H = config_.hidden_size;
  x_.resize(static_cast<size_t>(batch.num_tokens() * H));
  for (int64_t t = 0; t < batch.num_tokens(); ++t) {
    const TokenId id = batch.input_ids[static_cast<size_t>(t)];
    if (id < 0 || id >= config_.vocab_size) {
      throw std::out_of_range("token id " + std::to_string(id) + " is outside the vocabulary of " +
                              std::to_string(config_.vocab_size));
    }
    weights_.embed_tokens.row(id, x_.data() + t * H);
  }
}

void LlamaModel::attention_block(const StepBatch& batch, KvCache& cache, int32_t layer) {
  const CpuLayerWeights& w = weights_.layers[static_cast<size_t>(layer)];
  const int64_t T = batch.num_tokens();
  const int64_t H = config_.hidden_size;
  const int64_t d = config_.head_dim;
  const int64_t q_width = int64_t{q_heads_} * d;
  const int64_t kv_width = int64_t{kv_heads_} * d;
  const int64_t qkv_width = q_width + 2 * kv_width;
  kcpu::rms_norm(h_, x_, w.input_layernorm, static_cast<size_t>(T), static_cast<size_t>(H),
                 static_cast<float>(config_.rms_norm_eps));
  matmul_(h_.data(), T, w.qkv_proj, qkv_.data());
  for (int64_t t = 0; t < T; ++t) {
    float* row = qkv_.data() + t * qkv_width;
    if (!w.qkv_bias.empty()) {
      for (int64_t e = 0; e < qkv_width; ++e) row[e] += w.qkv_bias[static_cast<size_t>(e)];
    }
    std::copy_n(row, q_width, q_.data() + t * q_width);
    std::copy_n(row + q_width, kv_width, k_.data() + t * kv_width);
    std::copy_n(row + q_width + kv_width, kv_width, v_.data() + t * kv_width);
  }
  const kcpu::RotaryShape rotary{static_cast<size_t>(q_heads_), static_cast<size_t>(kv_heads_),
                                 static_cast<size_t>(d), static_cast<size_t>(d)};
  kcpu::rotary_embedding(batch.positions, q_, k_, rotary, cos_sin_cache_);
  for (int64_t t = 0; t < T; ++t) {
    const int64_t slot = batch.slot_mapping[static_cast<size_t>(t)];
    std::copy_n(k_.data() + t * kv_width, kv_width, cache.key(layer, slot));
    std::copy_n(v_.data() + t * kv_width, kv_width, cache.value(layer, slot));
  }
  const kcpu::PagedKv kv{.key = cache.key(layer, 0),
                         .value = cache.value(layer, 0),
                         .slot_stride = kv_width,
                         .block_size = cache.block_size()};
  const kcpu::AttentionShape shape{.q_heads = q_heads_,
                                   .kv_heads = kv_heads_,
                                   .head_dim = static_cast<int32_t>(d),
                                   .scale = 1.0f / std::sqrt(static_cast<float>(d))};
  attention_(queries_, q_.data(), kv, shape, attn_.data());
  matmul_(attn_.data(), T, w.o_proj, proj_.data());
  comm_.all_reduce_sum(proj_);
  for (size_t i = 0; i < x_.size(); ++i) x_[i] += proj_[i];
}

void LlamaModel::mlp_block(int32_t layer) {
  const CpuLayerWeights& w = weights_.layers[static_cast<size_t>(layer)];
  const auto T = static_cast<int64_t>(x_.size()) / config_.hidden_size;
  kcpu::rms_norm(h_, x_, w.post_attention_layernorm, static_cast<size_t>(T),
                 static_cast<size_t>(config_.hidden_size),
                 static_cast<float>(config_.rms_norm_eps));
  matmul_(h_.data(), T, w.gate_up_proj, gate_up_.data());
  kcpu::silu_and_mul(act_, gate_up_, static_cast<size_t>(T), static_cast<size_t>(inter_));
  matmul_(act_.data(), T, w.down_proj, proj_.data());
  comm_.all_reduce_sum(proj_);
  for (size_t i = 0; i < x_.size(); ++i) x_[i] += proj_[i];
}

// Only the last token of each sampling request needs logits.
void LlamaModel::lm_head(const StepBatch& batch, std::vector<float>& logits) {
  const int64_t H = config_.hidden_size;
  int64_t num_sampling = 0;
  for (uint8_t s : batch.samples) num_sampling += s;
  last_.resize(static_cast<size_t>(num_sampling * H));
  int64_t row = 0;
  for (size_t r = 0; r < batch.num_requests(); ++r) {
    if (!batch.samples[r]) continue;
    const int64_t t = batch.query_start[r + 1] - 1;
    std::copy_n(x_.data() + t * H, H, last_.data() + row * H);
    ++row;
  }
  h_.resize(last_.size());
  kcpu::rms_norm(h_, last_, weights_.norm, static_cast<size_t>(num_sampling),
                 static_cast<size_t>(H), static_cast<float>(config_.rms_norm_eps));
  logits.resize(static_cast<size_t>(num_sampling) * static_cast<size_t>(config_.vocab_size));
  matmul_(h_.data(), num_sampling, weights_.output_embedding(), logits.data());
}

void LlamaModel::forward(const StepBatch& batch, KvCache& cache, std::vector<float>& logits) {
  const int64_t T = batch.num_tokens();
  const int64_t d = config_.head_dim;
  for (int64_t p : batch.positions) {
    if (p >= config_.max_position_embeddings) {
      throw std::out_of_range("position " + std::to_string(p) +
                              " is past max_position_embeddings " +
                              std::to_string(config_.max_position_embeddings));
    }
  }
  embed(batch);
  const int64_t q_width = int64_t{q_heads_} * d;
  const int64_t kv_width = int64_t{kv_heads_} * d;
  h_.resize(x_.size());
  qkv_.resize(static_cast<size_t>(T * (q_width + 2 * kv_width)));
  q_.resize(static_cast<size_t>(T * q_width));
  k_.resize(static_cast<size_t>(T * kv_width));
  v_.resize(static_cast<size_t>(T * kv_width));
  attn_.resize(static_cast<size_t>(T * q_width));
  proj_.resize(x_.size());
  gate_up_.resize(static_cast<size_t>(T * 2 * inter_));
  act_.resize(static_cast<size_t>(T * inter_));
  // Causal: each token sees its own position and everything before it.
  queries_.clear();
  for (size_t r = 0; r < batch.num_requests(); ++r) {
    for (int32_t t = batch.query_start[r]; t < batch.query_start[r + 1]; ++t) {
      queries_.push_back({.context_len = batch.positions[static_cast<size_t>(t)] + 1,
                          .block_ids = batch.requests[r]->block_ids.data()});
    }
  }
  for (int32_t layer = 0; layer < config_.num_hidden_layers; ++layer) {
    attention_block(batch, cache, layer);
    mlp_block(layer);
  }
  lm_head(batch, logits);
}

}  // namespace waypoint
