#pragma once
// Small builders shared by the engine_core unit tests. Expectations in the
// tests are computed by hand, so these helpers only build inputs and look
// things up; none of them re-implements scheduler logic.
#include <map>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "engine_core/kv_cache_manager.hpp"
#include "engine_core/request.hpp"
#include "engine_core/scheduler.hpp"
#include "proto/engine_core_output.hpp"
#include "proto/model_runner_output.hpp"
#include "proto/scheduler_output.hpp"

namespace waypoint::test {

// first, first+1, ..., first+n-1: distinct runs keep prefix-cache hits under control.
inline std::vector<TokenId> token_run(TokenId first, int32_t n) {
  std::vector<TokenId> t(static_cast<size_t>(n));
  std::iota(t.begin(), t.end(), first);
  return t;
}

inline std::vector<TokenId> concat(std::vector<TokenId> a, const std::vector<TokenId>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

inline EngineCoreRequest make_request(std::string id, std::vector<TokenId> prompt,
                                      std::optional<int32_t> max_tokens = 16, int32_t priority = 0,
                                      double arrival_time = 0.0) {
  EngineCoreRequest r;
  r.request_id = std::move(id);
  r.prompt_token_ids = std::move(prompt);
  r.sampling_params.max_tokens = max_tokens;
  r.priority = priority;
  r.arrival_time = arrival_time;
  return r;
}

inline SchedulerConfig small_config(int32_t block_size, int32_t num_blocks, int32_t max_model_len,
                                    int32_t max_num_batched_tokens = 1024,
                                    int32_t max_num_seqs = 16) {
  SchedulerConfig c;
  c.block_size = block_size;
  c.num_blocks = num_blocks;
  c.max_model_len = max_model_len;
  c.max_num_batched_tokens = max_num_batched_tokens;
  c.max_num_seqs = max_num_seqs;
  return c;
}

// What a worker returns for `step`, in SchedulerOutput order (new, then
// cached). Requests missing from `sampled` get an empty list, as a partial
// prefill chunk does.
inline ModelRunnerOutput answer(const SchedulerOutput& step,
                                const std::map<std::string, std::vector<TokenId>>& sampled = {}) {
  ModelRunnerOutput out;
  out.scheduler_step = step.scheduler_step;
  auto add = [&](const std::string& id) {
    out.req_ids.push_back(id);
    auto it = sampled.find(id);
    out.sampled_token_ids.push_back(it == sampled.end() ? std::vector<TokenId>{} : it->second);
  };
  for (const auto& r : step.scheduled_new_reqs) add(r.request_id);
  for (const auto& r : step.scheduled_cached_reqs) add(r.request_id);
  return out;
}

inline std::vector<std::string> new_ids(const SchedulerOutput& step) {
  std::vector<std::string> ids;
  for (const auto& r : step.scheduled_new_reqs) ids.push_back(r.request_id);
  return ids;
}

inline std::vector<std::string> cached_ids(const SchedulerOutput& step) {
  std::vector<std::string> ids;
  for (const auto& r : step.scheduled_cached_reqs) ids.push_back(r.request_id);
  return ids;
}

inline const NewRequestData* find_new(const SchedulerOutput& step, const std::string& id) {
  for (const auto& r : step.scheduled_new_reqs) {
    if (r.request_id == id) return &r;
  }
  return nullptr;
}

inline const CachedRequestData* find_cached(const SchedulerOutput& step, const std::string& id) {
  for (const auto& r : step.scheduled_cached_reqs) {
    if (r.request_id == id) return &r;
  }
  return nullptr;
}

// Every EngineCoreOutput of every client, in client then emission order.
inline std::vector<EngineCoreOutput> all_outputs(const StepOutputs& outputs) {
  std::vector<EngineCoreOutput> all;
  for (const auto& batch : outputs) {
    all.insert(all.end(), batch.outputs.begin(), batch.outputs.end());
  }
  return all;
}

inline std::vector<EngineCoreOutput> outputs_for_id(const StepOutputs& outputs,
                                                    const std::string& id) {
  std::vector<EngineCoreOutput> found;
  for (const auto& o : all_outputs(outputs)) {
    if (o.request_id == id) found.push_back(o);
  }
  return found;
}

// The batch of one client, or null when the step has none for it.
inline const EngineCoreOutputs* batch_for(const StepOutputs& outputs, int32_t client_index) {
  const auto c = static_cast<size_t>(client_index);
  return c < outputs.size() ? &outputs[c] : nullptr;
}

inline std::vector<BlockId> block_ids_of(const std::vector<KVCacheBlock*>& blocks) {
  std::vector<BlockId> ids;
  for (const KVCacheBlock* b : blocks) ids.push_back(b->block_id);
  return ids;
}

inline std::vector<BlockId> free_list_ids(const BlockPool& pool) {
  std::vector<BlockId> ids;
  pool.free_queue().for_each([&](const KVCacheBlock& b) { ids.push_back(b.block_id); });
  return ids;
}

// A Request as the scheduler would build it, for tests of the KV manager alone.
inline Request make_kv_request(std::string id, std::vector<TokenId> tokens,
                               const KVCacheManager& kv) {
  Request r;
  r.request_id = std::move(id);
  r.all_token_ids = std::move(tokens);
  r.num_prompt_tokens = r.num_tokens();
  kv.update_block_hashes(r);
  return r;
}

}  // namespace waypoint::test
