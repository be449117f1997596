#include "worker/llama_model.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "kernels/cpu/rms_norm.hpp"
#include "kernels/cpu/rotary_embedding.hpp"
#include "kernels/cpu/silu_and_mul.hpp"
#include "worker/rope_table.hpp"

namespace waypoint {

namespace kcpu = kernels::cpu;

namespace {

// y[rows, out] = x[rows, in] * W[out, in]^T (+ y when accumulate).
void linear(const float* x, int64_t rows, int64_t in, const float* w, int64_t out, float* y,
            bool accumulate = false) {
  if (rows == 0) return;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(rows),
              static_cast<blasint>(out), static_cast<blasint>(in), 1.0f, x,
              static_cast<blasint>(in), w, static_cast<blasint>(in), accumulate ? 1.0f : 0.0f, y,
              static_cast<blasint>(out));
}

}  // namespace

LlamaModel::LlamaModel(ModelConfig config, LlamaWeights weights, TpCommunicator& comm)
    : config_(std::move(config)),
      weights_(std::move(weights)),
      comm_(comm),
      q_heads_(config_.num_attention_heads / comm.world_size()),
      kv_heads_(config_.num_key_value_heads / comm.world_size()),
      inter_(config_.intermediate_size / comm.world_size()),
      cos_sin_cache_(rope_cos_sin_table(config_)) {}

void LlamaModel::attention(const StepBatch& batch, const KvCache& cache, int32_t layer) {
  const int64_t d = config_.head_dim;
  const int32_t group = q_heads_ / kv_heads_;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  const int64_t q_width = int64_t{q_heads_} * d;
  const int32_t block_size = cache.block_size();
  attn_.assign(static_cast<size_t>(batch.num_tokens() * q_width), 0.0f);

  for (size_t r = 0; r < batch.num_requests(); ++r) {
    const auto& blocks = batch.requests[r]->block_ids;
    for (int32_t t = batch.query_start[r]; t < batch.query_start[r + 1]; ++t) {
      const int64_t pos = batch.positions[static_cast<size_t>(t)];
      const int64_t n = pos + 1;  // causal: this token and everything before it
      scores_.resize(static_cast<size_t>(n));
      for (int32_t h = 0; h < q_heads_; ++h) {
        const float* q = q_.data() + t * q_width + h * d;
        const int64_t g = h / group;
        float max_score = -INFINITY;
        for (int64_t j = 0; j < n; ++j) {
          const int64_t slot =
              int64_t{blocks[static_cast<size_t>(j / block_size)]} * block_size + j % block_size;
          const float* k = cache.key(layer, slot) + g * d;
          float dot = 0.0f;
          for (int64_t e = 0; e < d; ++e) dot += q[e] * k[e];
          scores_[static_cast<size_t>(j)] = dot * scale;
          max_score = std::max(max_score, dot * scale);
        }
        double denom = 0.0;
        for (int64_t j = 0; j < n; ++j) {
          float& s = scores_[static_cast<size_t>(j)];
          s = std::exp(s - max_score);
          denom += s;
        }
        const auto inv = static_cast<float>(1.0 / denom);
        float* out = attn_.data() + t * q_width + h * d;
        for (int64_t j = 0; j < n; ++j) {
          const int64_t slot =
              int64_t{blocks[static_cast<size_t>(j / block_size)]} * block_size + j % block_size;
          const float* v = cache.value(layer, slot) + g * d;
          const float p = scores_[static_cast<size_t>(j)] * inv;
          for (int64_t e = 0; e < d; ++e) out[e] += p * v[e];
        }
      }
    }
  }
}

void LlamaModel::forward(const StepBatch& batch, KvCache& cache, std::vector<float>& logits) {
  const int64_t T = batch.num_tokens();
  const int64_t H = config_.hidden_size;
  const int64_t d = config_.head_dim;
  const int64_t q_width = int64_t{q_heads_} * d;
  const int64_t kv_width = int64_t{kv_heads_} * d;
  const int64_t qkv_width = q_width + 2 * kv_width;
  const auto eps = static_cast<float>(config_.rms_norm_eps);
  for (int64_t p : batch.positions) {
    if (p >= config_.max_position_embeddings) {
      throw std::out_of_range("position " + std::to_string(p) +
                              " is past max_position_embeddings " +
                              std::to_string(config_.max_position_embeddings));
    }
  }

  x_.resize(static_cast<size_t>(T * H));
  for (int64_t t = 0; t < T; ++t) {
    const TokenId id = batch.input_ids[static_cast<size_t>(t)];
    if (id < 0 || id >= config_.vocab_size) {
      throw std::out_of_range("token id " + std::to_string(id) + " is outside the vocabulary of " +
                              std::to_string(config_.vocab_size));
    }
    std::copy_n(weights_.embed_tokens.data() + int64_t{id} * H, H, x_.data() + t * H);
  }

  h_.resize(x_.size());
  qkv_.resize(static_cast<size_t>(T * qkv_width));
  q_.resize(static_cast<size_t>(T * q_width));
  k_.resize(static_cast<size_t>(T * kv_width));
  v_.resize(static_cast<size_t>(T * kv_width));
  proj_.resize(x_.size());
  gate_up_.resize(static_cast<size_t>(T * 2 * inter_));
  act_.resize(static_cast<size_t>(T * inter_));
  const kcpu::RotaryShape rotary{static_cast<size_t>(q_heads_), static_cast<size_t>(kv_heads_),
                                 static_cast<size_t>(d), static_cast<size_t>(d)};

  for (int32_t layer = 0; layer < config_.num_hidden_layers; ++layer) {
    const LlamaLayerWeights& w = weights_.layers[static_cast<size_t>(layer)];

    // Attention block.
    kcpu::rms_norm(h_, x_, w.input_layernorm, static_cast<size_t>(T), static_cast<size_t>(H), eps);
    linear(h_.data(), T, H, w.qkv_proj.data(), qkv_width, qkv_.data());
    for (int64_t t = 0; t < T; ++t) {
      float* row = qkv_.data() + t * qkv_width;
      if (!w.qkv_bias.empty()) {
        for (int64_t e = 0; e < qkv_width; ++e) row[e] += w.qkv_bias[static_cast<size_t>(e)];
      }
      std::copy_n(row, q_width, q_.data() + t * q_width);
      std::copy_n(row + q_width, kv_width, k_.data() + t * kv_width);
      std::copy_n(row + q_width + kv_width, kv_width, v_.data() + t * kv_width);
    }
    kcpu::rotary_embedding(batch.positions, q_, k_, rotary, cos_sin_cache_);
    for (int64_t t = 0; t < T; ++t) {
      const int64_t slot = batch.slot_mapping[static_cast<size_t>(t)];
      std::copy_n(k_.data() + t * kv_width, kv_width, cache.key(layer, slot));
      std::copy_n(v_.data() + t * kv_width, kv_width, cache.value(layer, slot));
    }
    attention(batch, cache, layer);
    linear(attn_.data(), T, q_width, w.o_proj.data(), H, proj_.data());
    comm_.all_reduce_sum(proj_);
    for (size_t i = 0; i < x_.size(); ++i) x_[i] += proj_[i];

    // MLP block.
    kcpu::rms_norm(h_, x_, w.post_attention_layernorm, static_cast<size_t>(T),
                   static_cast<size_t>(H), eps);
    linear(h_.data(), T, H, w.gate_up_proj.data(), 2 * int64_t{inter_}, gate_up_.data());
    kcpu::silu_and_mul(act_, gate_up_, static_cast<size_t>(T), static_cast<size_t>(inter_));
    linear(act_.data(), T, inter_, w.down_proj.data(), H, proj_.data());
    comm_.all_reduce_sum(proj_);
    for (size_t i = 0; i < x_.size(); ++i) x_[i] += proj_[i];
  }

  // Only the last token of each sampling request needs logits.
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
                 static_cast<size_t>(H), eps);
  logits.resize(static_cast<size_t>(num_sampling) * static_cast<size_t>(config_.vocab_size));
  linear(h_.data(), num_sampling, H, weights_.output_embedding().data(), config_.vocab_size,
         logits.data());
}

}  // namespace waypoint
