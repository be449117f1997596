#include "worker/request_state_cache.hpp"

namespace waypoint {

const CachedRequestState* RequestStateCache::find(const std::string& request_id) const {
  auto it = requests_.find(request_id);
  return it == requests_.end() ? nullptr : &it->second;
}

Result<void> RequestStateCache::add_to_batch(const std::string& id, const CachedRequestState& state,
                                             int32_t num_computed, int32_t num_scheduled,
                                             StepBatch& batch) const {
  const auto known = static_cast<int32_t>(state.token_ids.size());
  const int32_t end = num_computed + num_scheduled;
  if (num_computed < 0 || num_scheduled <= 0 || end > known) {
    return Error{"step " + std::to_string(batch.scheduler_step) + " schedules tokens [" +
                 std::to_string(num_computed) + ", " + std::to_string(end) + ") of request " + id +
                 ", which has " + std::to_string(known)};
  }
  if (static_cast<int64_t>(state.block_ids.size()) * block_size_ < end) {
    return Error{"step " + std::to_string(batch.scheduler_step) + " gives request " + id + " " +
                 std::to_string(state.block_ids.size()) + " blocks for " + std::to_string(end) +
                 " tokens"};
  }
  batch.request_ids.push_back(id);
  batch.requests.push_back(&state);
  batch.context_lens.push_back(end);
  batch.samples.push_back(end == known ? 1 : 0);
  for (int32_t p = num_computed; p < end; ++p) {
    batch.input_ids.push_back(state.token_ids[p]);
    batch.positions.push_back(p);
    batch.slot_mapping.push_back(int64_t{state.block_ids[p / block_size_]} * block_size_ +
                                 p % block_size_);
  }
  batch.query_start.push_back(static_cast<int32_t>(batch.input_ids.size()));
  return {};
}

Result<void> RequestStateCache::apply(const SchedulerOutput& step, StepBatch& batch) {
  batch = StepBatch{};
  batch.scheduler_step = step.scheduler_step;
  batch.query_start.push_back(0);

  for (const auto& id : step.finished_req_ids) requests_.erase(id);

  for (const auto& r : step.scheduled_new_reqs) {
    CachedRequestState& state = requests_[r.request_id];
    state.token_ids = r.prompt_token_ids;
    state.num_prompt_tokens = static_cast<int32_t>(r.prompt_token_ids.size());
    state.sampling_params = r.sampling_params;
    state.block_ids = r.block_ids;
    if (auto ok =
            add_to_batch(r.request_id, state, r.num_computed_tokens, r.num_scheduled_tokens, batch);
        !ok) {
      return ok;
    }
  }
  for (const auto& r : step.scheduled_cached_reqs) {
    auto it = requests_.find(r.request_id);
    if (it == requests_.end()) {
      return Error{"step " + std::to_string(step.scheduler_step) + " continues unknown request " +
                   r.request_id};
    }
    CachedRequestState& state = it->second;
    state.token_ids.insert(state.token_ids.end(), r.new_token_ids.begin(), r.new_token_ids.end());
    if (r.resumed_from_preemption) {
      state.block_ids = r.new_block_ids;  // recomputed from scratch into new blocks
    } else {
      state.block_ids.insert(state.block_ids.end(), r.new_block_ids.begin(), r.new_block_ids.end());
    }
    if (auto ok =
            add_to_batch(r.request_id, state, r.num_computed_tokens, r.num_scheduled_tokens, batch);
        !ok) {
      return ok;
    }
  }
  if (batch.num_tokens() != step.total_num_scheduled_tokens) {
    return Error{"step " + std::to_string(step.scheduler_step) + " says " +
                 std::to_string(step.total_num_scheduled_tokens) + " tokens but schedules " +
                 std::to_string(batch.num_tokens())};
  }
  return {};
}

}  // namespace waypoint
