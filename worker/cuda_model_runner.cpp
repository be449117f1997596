#include "worker/cuda_model_runner.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "kernels/cuda/sampling.hpp"
#include "kernels/cuda/scatter_fill.hpp"

namespace waypoint {

namespace kc = kernels::cuda;

namespace {

// Where each array of a step sits in the staging buffer. Every array starts on a
// 16-byte boundary: the widest element (SamplingRow) needs 8, and the kernels may
// load 16 bytes at a time.
struct StagingLayout {
  size_t input_ids = 0, positions = 0, slots = 0, block_tables = 0, query_start = 0, seq_lens = 0,
         logits_rows = 0, sampling_rows = 0, banned = 0, bytes = 0;

  StagingLayout(size_t tokens, size_t seqs, size_t max_blocks, size_t logits, size_t banned_count) {
    input_ids = place(tokens * sizeof(int32_t));
    positions = place(tokens * sizeof(int64_t));
    slots = place(tokens * sizeof(int64_t));
    block_tables = place(seqs * max_blocks * sizeof(int32_t));
    query_start = place((seqs + 1) * sizeof(int32_t));
    seq_lens = place(seqs * sizeof(int32_t));
    logits_rows = place(logits * sizeof(int32_t));
    sampling_rows = place(logits * sizeof(kc::SamplingRow));
    banned = place(banned_count * sizeof(int64_t));
  }

 private:
  size_t place(size_t size) {
    const size_t at = (bytes + 15) & ~size_t{15};
    bytes = at + size;
    return at;
  }
};

template <class T>
T* at(std::byte* base, size_t offset) {
  return reinterpret_cast<T*>(base + offset);
}

int32_t blocks_for(int32_t tokens, int32_t block_size) {
  return (tokens + block_size - 1) / block_size;
}

}  // namespace

CudaModelRunner::CudaModelRunner(ModelConfig config, LlamaWeights weights,
                                 CudaModelRunnerConfig runner, DeviceTpCommunicator& comm)
    : config_(config),
      runner_(runner),
      comm_(comm),
      states_(runner.block_size),
      model_(std::move(config), std::move(weights), comm, stream_.get(),
             runner.max_num_batched_tokens,
             std::min(runner.max_num_seqs, runner.max_num_batched_tokens)),
      engine_rng_(runner.seed) {
  if (runner.block_size < 1)
    throw std::invalid_argument("CudaModelRunner: block_size must be positive");
  // Sized for the largest step up front, so that steps allocate nothing once the KV
  // cache has taken the rest of the device. Only an unusually long list of stop
  // tokens under min_tokens can outgrow it (stage() then grows it).
  const auto rows = static_cast<size_t>(model_.max_num_logits());
  const StagingLayout bound(
      static_cast<size_t>(runner.max_num_batched_tokens), static_cast<size_t>(runner.max_num_seqs),
      static_cast<size_t>(blocks_for(config_.max_position_embeddings, runner.block_size)), rows,
      rows);
  staging_host_ = PinnedBuffer<std::byte>(bound.bytes);
  staging_device_ = DeviceBuffer<std::byte>(bound.bytes);
  if (comm.rank() == 0) {
    const size_t logits = rows * static_cast<size_t>(config_.vocab_size);
    logits_ = DeviceBuffer<float>(logits);
    if (runner.keep_logits) kept_logits_ = DeviceBuffer<float>(logits);
    tokens_ = DeviceBuffer<int32_t>(rows);
    tokens_host_ = PinnedBuffer<int32_t>(rows);
  }
  if (runner.num_blocks > 0) allocate_kv_cache(runner.num_blocks);
}

int64_t CudaModelRunner::kv_bytes_per_block() const {
  return DeviceKvCache::bytes_per_block(config_.num_hidden_layers, runner_.block_size,
                                        model_.local_kv_heads(), config_.head_dim);
}

void CudaModelRunner::allocate_kv_cache(int32_t num_blocks) {
  if (cache_.num_blocks() > 0) throw std::logic_error("the KV cache is already allocated");
  if (num_blocks < 2) {
    throw std::invalid_argument("a KV cache needs at least 2 blocks (one is the null block), got " +
                                std::to_string(num_blocks));
  }
  cache_ = DeviceKvCache(config_.num_hidden_layers, num_blocks, runner_.block_size,
                         model_.local_kv_heads(), config_.head_dim);
}

DeviceStep CudaModelRunner::stage(const StepBatch& batch, const DeviceKvCache& cache, bool sample) {
  const auto T = static_cast<size_t>(batch.num_tokens());
  const size_t R = batch.num_requests();
  if (T > static_cast<size_t>(model_.max_num_tokens())) {
    throw std::runtime_error("step " + std::to_string(batch.scheduler_step) + " has " +
                             std::to_string(T) + " tokens; this worker was sized for " +
                             std::to_string(model_.max_num_tokens()));
  }
  // The device cannot throw: what the CPU model refuses is refused here, and a
  // slot outside the pool would write past the cache.
  const int64_t num_slots = int64_t{cache.num_blocks()} * cache.block_size();
  for (size_t t = 0; t < T; ++t) {
    const TokenId id = batch.input_ids[t];
    if (id < 0 || id >= config_.vocab_size) {
      throw std::out_of_range("token id " + std::to_string(id) + " is outside the vocabulary of " +
                              std::to_string(config_.vocab_size));
    }
    if (batch.positions[t] >= config_.max_position_embeddings) {
      throw std::out_of_range("position " + std::to_string(batch.positions[t]) +
                              " is past max_position_embeddings " +
                              std::to_string(config_.max_position_embeddings));
    }
    if (batch.slot_mapping[t] < 0 || batch.slot_mapping[t] >= num_slots) {
      throw std::runtime_error("step " + std::to_string(batch.scheduler_step) + " writes KV slot " +
                               std::to_string(batch.slot_mapping[t]) + " of a pool of " +
                               std::to_string(num_slots));
    }
  }

  const int32_t block_size = cache.block_size();
  int32_t max_query_len = 0, max_seq_len = 0, num_logits = 0;
  for (size_t r = 0; r < R; ++r) {
    max_query_len = std::max(max_query_len, batch.query_start[r + 1] - batch.query_start[r]);
    max_seq_len = std::max(max_seq_len, batch.context_lens[r]);
    num_logits += batch.samples[r];
  }
  if (num_logits > model_.max_num_logits()) {
    throw std::runtime_error("step " + std::to_string(batch.scheduler_step) + " samples " +
                             std::to_string(num_logits) + " requests; this worker was sized for " +
                             std::to_string(model_.max_num_logits()));
  }
  const int32_t max_blocks = std::max(1, blocks_for(max_seq_len, block_size));
  const auto vocab = static_cast<size_t>(config_.vocab_size);

  // min_tokens: EOS and the stop tokens cannot be drawn yet (vLLM's logits
  // processor), as CpuModelRunner masks them.
  std::vector<int64_t> banned;
  if (sample) {
    size_t row = 0;
    for (size_t r = 0; r < R; ++r) {
      if (!batch.samples[r]) continue;
      const CachedRequestState& state = *batch.requests[r];
      const SamplingParams& p = state.sampling_params;
      const auto num_output =
          static_cast<int32_t>(state.token_ids.size()) - state.num_prompt_tokens;
      if (num_output < p.min_tokens) {
        auto ban = [&](TokenId id) {
          if (id >= 0 && static_cast<size_t>(id) < vocab) {
            banned.push_back(static_cast<int64_t>(row * vocab + static_cast<size_t>(id)));
          }
        };
        if (config_.eos_token_id && !p.ignore_eos) ban(*config_.eos_token_id);
        for (TokenId id : p.stop_token_ids) ban(id);
      }
      ++row;
    }
  }

  const StagingLayout layout(T, R, static_cast<size_t>(max_blocks), static_cast<size_t>(num_logits),
                             banned.size());
  if (layout.bytes > staging_host_.size()) {
    // The previous step has finished (run() synchronizes), so nothing reads the
    // old buffers any more.
    staging_host_ = PinnedBuffer<std::byte>(layout.bytes);
    staging_device_ = DeviceBuffer<std::byte>(layout.bytes);
  }
  std::byte* host = staging_host_.get();
  std::memcpy(at<int32_t>(host, layout.input_ids), batch.input_ids.data(), T * sizeof(int32_t));
  std::memcpy(at<int64_t>(host, layout.positions), batch.positions.data(), T * sizeof(int64_t));
  std::memcpy(at<int64_t>(host, layout.slots), batch.slot_mapping.data(), T * sizeof(int64_t));
  std::memcpy(at<int32_t>(host, layout.query_start), batch.query_start.data(),
              (R + 1) * sizeof(int32_t));
  std::memcpy(at<int32_t>(host, layout.seq_lens), batch.context_lens.data(), R * sizeof(int32_t));
  auto* tables = at<int32_t>(host, layout.block_tables);
  auto* logits_rows = at<int32_t>(host, layout.logits_rows);
  auto* rows = at<kc::SamplingRow>(host, layout.sampling_rows);
  size_t row = 0;
  for (size_t r = 0; r < R; ++r) {
    // Only the blocks holding KV up to this step; the rest of the row is the null
    // block, which attention never reads.
    const auto& ids = batch.requests[r]->block_ids;
    const auto used = static_cast<size_t>(blocks_for(batch.context_lens[r], block_size));
    int32_t* table = tables + r * static_cast<size_t>(max_blocks);
    std::copy_n(ids.begin(), used, table);
    std::fill(table + used, table + max_blocks, 0);
    if (!batch.samples[r]) continue;
    logits_rows[row] = batch.query_start[r + 1] - 1;  // the chunk's last token
    if (sample) {
      const CachedRequestState& state = *batch.requests[r];
      const SamplingParams& p = state.sampling_params;
      const auto seed = request_seeds_.find(batch.request_ids[r]);
      kc::SamplingRow& s = rows[row];
      s = kc::SamplingRow{};
      s.temperature = p.temperature;
      s.top_k = p.top_k;
      s.top_p = p.top_p;
      s.min_p = p.min_p;
      s.seed = seed == request_seeds_.end() ? 0 : seed->second;
      // The draw is a function of (seed, tokens sampled so far), so a request
      // resumed after preemption continues its sequence of draws.
      s.offset = state.token_ids.size() - static_cast<size_t>(state.num_prompt_tokens);
    }
    ++row;
  }
  std::copy(banned.begin(), banned.end(), at<int64_t>(host, layout.banned));
  check_cuda(cudaMemcpyAsync(staging_device_.get(), host, layout.bytes, cudaMemcpyHostToDevice,
                             stream_.get()),
             "cudaMemcpyAsync (step metadata)");

  std::byte* device = staging_device_.get();
  sampling_rows_offset_ = layout.sampling_rows;
  banned_offset_ = layout.banned;
  num_banned_ = banned.size();
  DeviceStep step;
  step.input_ids = at<int32_t>(device, layout.input_ids);
  step.positions = at<int64_t>(device, layout.positions);
  step.slot_mapping = at<int64_t>(device, layout.slots);
  step.block_tables = at<int32_t>(device, layout.block_tables);
  step.query_start = at<int32_t>(device, layout.query_start);
  step.seq_lens = at<int32_t>(device, layout.seq_lens);
  step.logits_rows = at<int32_t>(device, layout.logits_rows);
  step.num_tokens = static_cast<int32_t>(T);
  step.num_seqs = static_cast<int32_t>(R);
  step.num_logits = num_logits;
  step.max_query_len = max_query_len;
  step.max_seq_len = max_seq_len;
  step.max_blocks_per_seq = max_blocks;
  return step;
}

void CudaModelRunner::run(const StepBatch& batch, const DeviceKvCache& cache,
                          ModelRunnerOutput* out) {
  const bool sample = comm_.rank() == 0;  // only rank 0 samples and replies
  const DeviceStep step = stage(batch, cache, sample);
  model_.forward(step, cache, sample ? logits_.get() : nullptr);
  num_logits_ = sample ? step.num_logits : 0;
  logits_host_current_ = false;
  if (!sample || step.num_logits == 0) {
    // The staging buffer is refilled by the next step: it must have been read.
    stream_.synchronize();
    return;
  }
  const auto L = static_cast<size_t>(step.num_logits);
  const auto vocab = static_cast<size_t>(config_.vocab_size);
  if (kept_logits_.size() > 0) {
    check_cuda(cudaMemcpyAsync(kept_logits_.get(), logits_.get(), L * vocab * sizeof(float),
                               cudaMemcpyDeviceToDevice, stream_.get()),
               "cudaMemcpyAsync (logits)");
  }
  std::byte* device = staging_device_.get();
  kc::scatter_fill(logits_.get(), at<int64_t>(device, banned_offset_), num_banned_, -INFINITY,
                   stream_.get());
  kc::sample(tokens_.get(), logits_.get(), at<kc::SamplingRow>(device, sampling_rows_offset_), L,
             vocab, stream_.get());
  check_cuda(cudaMemcpyAsync(tokens_host_.get(), tokens_.get(), L * sizeof(int32_t),
                             cudaMemcpyDeviceToHost, stream_.get()),
             "cudaMemcpyAsync (sampled tokens)");
  stream_.synchronize();
  if (out == nullptr) return;
  size_t row = 0;
  for (size_t r = 0; r < batch.num_requests(); ++r) {
    if (!batch.samples[r]) continue;
    out->sampled_token_ids[r].push_back(tokens_host_.get()[row++]);
    sampled_ids_.push_back(batch.request_ids[r]);
  }
}

ModelRunnerOutput CudaModelRunner::execute_model(const SchedulerOutput& step) {
  for (const auto& id : step.finished_req_ids) request_seeds_.erase(id);
  if (auto ok = states_.apply(step, batch_); !ok) throw std::runtime_error(ok.error().message);
  for (const auto& r : step.scheduled_new_reqs) {
    const auto& seed = r.sampling_params.seed;
    request_seeds_.insert_or_assign(r.request_id,
                                    seed ? static_cast<uint64_t>(*seed) : engine_rng_());
  }

  ModelRunnerOutput out;
  out.scheduler_step = step.scheduler_step;
  out.req_ids = batch_.request_ids;
  out.sampled_token_ids.resize(batch_.num_requests());
  sampled_ids_.clear();
  num_logits_ = 0;
  logits_host_current_ = false;
  if (batch_.num_requests() == 0) return out;
  if (cache_.num_blocks() == 0) {
    throw std::logic_error("CudaModelRunner: a step before allocate_kv_cache");
  }
  run(batch_, cache_, &out);
  return out;
}

DeviceMemory CudaModelRunner::profile() {
  const int32_t T = model_.max_num_tokens();
  const int32_t L = model_.max_num_logits();
  const int32_t block_size = runner_.block_size;
  // As many sequences as logits rows, and enough that none is longer than the
  // model's positions.
  const int32_t max_len = config_.max_position_embeddings;
  const int32_t seqs = std::min(T, std::max(L, (T + max_len - 1) / max_len));

  std::vector<CachedRequestState> states(static_cast<size_t>(seqs));
  StepBatch batch;
  batch.query_start.push_back(0);
  int32_t next_block = 1;  // block 0 is the null block
  for (int32_t s = 0; s < seqs; ++s) {
    const int32_t len = T / seqs + (s < T % seqs ? 1 : 0);
    CachedRequestState& state = states[static_cast<size_t>(s)];
    for (int32_t p = 0; p < len; ++p) {
      state.token_ids.push_back(p % config_.vocab_size);
      if (p % block_size == 0) state.block_ids.push_back(next_block++);
      batch.input_ids.push_back(state.token_ids.back());
      batch.positions.push_back(p);
      batch.slot_mapping.push_back(int64_t{state.block_ids.back()} * block_size + p % block_size);
    }
    state.num_prompt_tokens = len;
    batch.request_ids.push_back("profile-" + std::to_string(s));
    batch.requests.push_back(&state);
    batch.context_lens.push_back(len);
    batch.samples.push_back(s < L ? 1 : 0);
    batch.query_start.push_back(static_cast<int32_t>(batch.input_ids.size()));
  }
  {
    const DeviceKvCache scratch(config_.num_hidden_layers, next_block, block_size,
                                model_.local_kv_heads(), config_.head_dim);
    run(batch, scratch, nullptr);
  }
  num_logits_ = 0;
  size_t free_bytes = 0, total_bytes = 0;
  check_cuda(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo");
  return {static_cast<int64_t>(total_bytes), static_cast<int64_t>(free_bytes)};
}

const std::vector<float>& CudaModelRunner::last_logits() const {
  if (!runner_.keep_logits) {
    throw std::logic_error("CudaModelRunner::last_logits needs keep_logits in its config");
  }
  if (!logits_host_current_) {
    logits_host_.resize(static_cast<size_t>(num_logits_) * static_cast<size_t>(config_.vocab_size));
    if (!logits_host_.empty()) {
      // run() synchronized the stream after the copy into kept_logits_.
      check_cuda(cudaMemcpy(logits_host_.data(), kept_logits_.get(),
                            logits_host_.size() * sizeof(float), cudaMemcpyDeviceToHost),
                 "cudaMemcpy (logits)");
    }
    logits_host_current_ = true;
  }
  return logits_host_;
}

}  // namespace waypoint
