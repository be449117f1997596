#include "worker/cpu_model_runner.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace waypoint {

CpuModelRunner::CpuModelRunner(ModelConfig config, LlamaWeights weights,
                               CpuModelRunnerConfig runner, TpCommunicator& comm)
    : config_(config),
      comm_(comm),
      states_(runner.block_size),
      cache_(config.num_hidden_layers, runner.num_blocks, runner.block_size,
             config.num_key_value_heads / comm.world_size(), config.head_dim),
      model_(std::move(config), std::move(weights), comm, runner.compute),
      engine_rng_(runner.seed) {}

ModelRunnerOutput CpuModelRunner::execute_model(const SchedulerOutput& step) {
  for (const auto& id : step.finished_req_ids) request_rngs_.erase(id);
  if (auto ok = states_.apply(step, batch_); !ok) throw std::runtime_error(ok.error().message);
  for (const auto& r : step.scheduled_new_reqs) {
    const auto& seed = r.sampling_params.seed;
    request_rngs_.insert_or_assign(
        r.request_id, std::mt19937_64(seed ? static_cast<uint64_t>(*seed) : engine_rng_()));
  }

  ModelRunnerOutput out;
  out.scheduler_step = step.scheduler_step;
  out.req_ids = batch_.request_ids;
  out.sampled_token_ids.resize(batch_.num_requests());
  sampled_ids_.clear();
  if (batch_.num_requests() == 0) {
    logits_.clear();
    return out;
  }
  model_.forward(batch_, cache_, logits_);
  if (comm_.rank() != 0) return out;  // only rank 0 samples and replies

  const auto vocab = static_cast<size_t>(config_.vocab_size);
  size_t row = 0;
  for (size_t r = 0; r < batch_.num_requests(); ++r) {
    if (!batch_.samples[r]) continue;
    const CachedRequestState& state = *batch_.requests[r];
    row_.assign(logits_.begin() + static_cast<std::ptrdiff_t>(row * vocab),
                logits_.begin() + static_cast<std::ptrdiff_t>((row + 1) * vocab));
    ++row;
    // min_tokens: EOS and stop tokens cannot be drawn yet (vLLM's logits processor).
    const SamplingParams& p = state.sampling_params;
    const auto num_output = static_cast<int32_t>(state.token_ids.size()) - state.num_prompt_tokens;
    if (num_output < p.min_tokens) {
      auto mask = [&](TokenId id) {
        if (id >= 0 && static_cast<size_t>(id) < vocab) row_[static_cast<size_t>(id)] = -INFINITY;
      };
      if (config_.eos_token_id && !p.ignore_eos) mask(*config_.eos_token_id);
      for (TokenId id : p.stop_token_ids) mask(id);
    }
    out.sampled_token_ids[r].push_back(
        sampler_.sample(row_, p, request_rngs_.at(batch_.request_ids[r])));
    sampled_ids_.push_back(batch_.request_ids[r]);
  }
  return out;
}

}  // namespace waypoint
