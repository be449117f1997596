#include "perf/synthetic_executor.hpp"

#include <functional>
#include <stdexcept>

#include "base/splitmix64.hpp"

namespace waypoint {

TokenId SyntheticExecutor::token_for(const Tracked& request, int32_t position) const {
  const uint64_t r = splitmix64(request.stream ^ splitmix64(static_cast<uint64_t>(position)));
  const double u = unit_interval(r);
  if (config_.eos_token_id && u < config_.eos_probability) return *config_.eos_token_id;
  auto token = static_cast<TokenId>(splitmix64(r) % static_cast<uint64_t>(config_.vocab_size));
  if (config_.eos_token_id && token == *config_.eos_token_id) {
    token = (token + 1) % config_.vocab_size;
  }
  return token;
}

ModelRunnerOutput SyntheticExecutor::execute_model(const SchedulerOutput& step) {
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
