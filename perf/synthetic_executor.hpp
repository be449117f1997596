#pragma once
// An executor that answers each step with deterministic pseudo-random tokens
// instead of running a model. It follows requests the way a worker does, from
// the SchedulerOutput diffs alone, so it samples exactly when a real worker
// would: when a step's chunk reaches the end of the request's known tokens.
// `waypoint sim` steps the real scheduler with it, and so do the scheduler's
// tests and benchmark; it is header-only, so they need not link all of perf/.
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "base/splitmix64.hpp"
#include "proto/executor.hpp"

namespace waypoint {

struct SyntheticExecutorConfig {
  int32_t vocab_size = 32000;
  std::optional<TokenId> eos_token_id;  // emitted with eos_probability, never otherwise
  double eos_probability = 0.0;
  uint64_t seed = 0;
};

class SyntheticExecutor final : public Executor {
 public:
  explicit SyntheticExecutor(SyntheticExecutorConfig config = {}) : config_(config) {}

  // Throws std::logic_error if the step names a request it was never sent:
  // that is a scheduler bug, not a runtime condition.
  ModelRunnerOutput execute_model(const SchedulerOutput& step) override;

  size_t num_tracked_requests() const { return requests_.size(); }

 private:
  struct Tracked {
    int32_t num_tokens = 0;
    uint64_t stream = 0;  // per-request seed, from the request id
  };
  TokenId token_for(const Tracked& request, int32_t position) const;

  SyntheticExecutorConfig config_;
  std::unordered_map<std::string, Tracked> requests_;
};

inline TokenId SyntheticExecutor::token_for(const Tracked& request, int32_t position) const {
  const uint64_t r = splitmix64(request.stream ^ splitmix64(static_cast<uint64_t>(position)));
  const double u = unit_interval(r);
  if (config_.eos_token_id && u < config_.eos_probability) return *config_.eos_token_id;
  auto token = static_cast<TokenId>(splitmix64(r) % static_cast<uint64_t>(config_.vocab_size));
  if (config_.eos_token_id && token == *config_.eos_token_id) {
    token = (token + 1) % config_.vocab_size;
  }
  return token;
}

inline ModelRunnerOutput SyntheticExecutor::execute_model(const SchedulerOutput& step) {
  for (const auto& id : step.finished_req_ids) requests_.erase(id);

  ModelRunnerOutput out;
  out.scheduler_step = step.scheduler_step;
  const size_t n = step.scheduled_new_reqs.size() + step.scheduled_cached_reqs.size();
  out.req_ids.reserve(n);
  out.sampled_token_ids.reserve(n);

  auto answer = [&](const std::string& id, const Tracked& request, int32_t num_computed,
                    int32_t num_scheduled) {
    out.req_ids.push_back(id);
    auto& sampled = out.sampled_token_ids.emplace_back();
    if (num_computed + num_scheduled >= request.num_tokens) {
      sampled.push_back(token_for(request, request.num_tokens));
    }
  };
  for (const auto& r : step.scheduled_new_reqs) {
    Tracked tracked{static_cast<int32_t>(r.prompt_token_ids.size()),
                    splitmix64(config_.seed ^ std::hash<std::string>{}(r.request_id))};
    auto [it, inserted] = requests_.insert_or_assign(r.request_id, tracked);
    answer(r.request_id, it->second, r.num_computed_tokens, r.num_scheduled_tokens);
  }
  for (const auto& r : step.scheduled_cached_reqs) {
    auto it = requests_.find(r.request_id);
    if (it == requests_.end()) {
      throw std::logic_error("step " + std::to_string(step.scheduler_step) + " continues request " +
                             r.request_id + " that was never sent");
    }
    it->second.num_tokens += static_cast<int32_t>(r.new_token_ids.size());
    answer(r.request_id, it->second, r.num_computed_tokens, r.num_scheduled_tokens);
  }
  return out;
}

}  // namespace waypoint
