#pragma once
// Engine core -> workers, one broadcast per step (docs/architecture.md, "Wire contract"). A request
// is sent in full the first time it is scheduled; afterwards only what changed.
#include <cstdint>
#include <string>
#include <vector>

#include <msgpack.hpp>

#include "proto/engine_core_request.hpp"

namespace waypoint {

using BlockId = int32_t;

struct NewRequestData {
  static constexpr const char* kWireName = "NewRequestData";
  std::string request_id;
  std::vector<TokenId> prompt_token_ids;
  SamplingParams sampling_params;
  std::vector<BlockId> block_ids;   // the whole block table, cache hits first
  int32_t num_computed_tokens = 0;  // tokens whose KV is already in the cache
  int32_t num_scheduled_tokens = 0;

  bool operator==(const NewRequestData&) const = default;
  MSGPACK_DEFINE_ARRAY(request_id, prompt_token_ids, sampling_params, block_ids,
                       num_computed_tokens, num_scheduled_tokens)
};

struct CachedRequestData {
  static constexpr const char* kWireName = "CachedRequestData";
  std::string request_id;
  // After a preemption the worker's block table is replaced by new_block_ids;
  // otherwise new_block_ids are appended to it.
  bool resumed_from_preemption = false;
  std::vector<TokenId> new_token_ids;  // tokens sampled since the worker last saw the request
  std::vector<BlockId> new_block_ids;
  int32_t num_computed_tokens = 0;
  int32_t num_scheduled_tokens = 0;

  bool operator==(const CachedRequestData&) const = default;
  MSGPACK_DEFINE_ARRAY(request_id, resumed_from_preemption, new_token_ids, new_block_ids,
                       num_computed_tokens, num_scheduled_tokens)
};

struct SchedulerOutput {
  static constexpr const char* kWireName = "SchedulerOutput";
  std::vector<NewRequestData> scheduled_new_reqs;
  std::vector<CachedRequestData> scheduled_cached_reqs;
  int32_t total_num_scheduled_tokens = 0;
  std::vector<std::string> preempted_req_ids;  // the worker keeps their state until resumed
  std::vector<std::string> finished_req_ids;   // finished since the previous step: drop state
  uint64_t scheduler_step = 0;

  bool empty() const { return total_num_scheduled_tokens == 0; }
  bool operator==(const SchedulerOutput&) const = default;
  MSGPACK_DEFINE_ARRAY(scheduled_new_reqs, scheduled_cached_reqs, total_num_scheduled_tokens,
                       preempted_req_ids, finished_req_ids, scheduler_step)
};

}  // namespace waypoint
