#pragma once
// The worker's side of the SchedulerOutput diff protocol (docs/architecture.md, "Wire contract"):
// it rebuilds each request's tokens and block table from the diffs alone, and lays out one step's
// forward pass as flat arrays for the model runner.
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/result.hpp"
#include "proto/scheduler_output.hpp"

namespace waypoint {

struct CachedRequestState {
  std::vector<TokenId> token_ids;  // the prompt, then every sampled token sent back
  int32_t num_prompt_tokens = 0;
  SamplingParams sampling_params;
  std::vector<BlockId> block_ids;  // block table, in position order
};

// One step's forward pass, requests in SchedulerOutput order (new, then cached).
// Token i of the batch is input_ids[i] at positions[i]; its KV goes to slot
// slot_mapping[i] = block_id * block_size + position % block_size.
struct StepBatch {
  uint64_t scheduler_step = 0;
  std::vector<std::string> request_ids;
  std::vector<const CachedRequestState*> requests;
  std::vector<int32_t> query_start;   // request r owns tokens [query_start[r], query_start[r+1])
  std::vector<int32_t> context_lens;  // tokens in the KV cache after this step, per request
  std::vector<uint8_t> samples;       // 1 where the chunk reaches the request's last known token
  std::vector<TokenId> input_ids;
  std::vector<int64_t> positions;
  std::vector<int64_t> slot_mapping;

  size_t num_requests() const { return request_ids.size(); }
  int32_t num_tokens() const { return static_cast<int32_t>(input_ids.size()); }
};

class RequestStateCache {
 public:
  explicit RequestStateCache(int32_t block_size) : block_size_(block_size) {}

  // Applies one step's diffs and fills `batch`. A step that names an unknown
  // request, schedules past a request's known tokens, or outruns its block
  // table is refused with the reason; a worker must never act on it.
  Result<void> apply(const SchedulerOutput& step, StepBatch& batch);

  const CachedRequestState* find(const std::string& request_id) const;
  size_t size() const { return requests_.size(); }

 private:
  Result<void> add_to_batch(const std::string& id, const CachedRequestState& state,
                            int32_t num_computed, int32_t num_scheduled, StepBatch& batch) const;

  int32_t block_size_;
  std::unordered_map<std::string, CachedRequestState> requests_;
};

}  // namespace waypoint
