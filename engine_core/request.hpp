#pragma once
// A request as the engine core tracks it, from add_request to its end.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine_core/block_hash.hpp"
#include "proto/engine_core_output.hpp"
#include "proto/engine_core_request.hpp"

namespace waypoint {

struct KVCacheBlock;

enum class RequestStatus : uint8_t {
  WAITING,
  RUNNING,
  PREEMPTED,
  FINISHED_STOPPED,
  FINISHED_LENGTH_CAPPED,
  FINISHED_ABORTED,
  FINISHED_ERROR,
};

inline bool is_finished(RequestStatus s) { return s >= RequestStatus::FINISHED_STOPPED; }
FinishReason finish_reason_of(RequestStatus s);  // precondition: is_finished(s)
FinishStatus finish_status_of(RequestStatus s);  // the journey's name for it; same precondition

struct Request {
  std::string request_id;
  int32_t client_index = 0;
  int32_t priority = 0;
  double arrival_time = 0.0;
  uint64_t arrival_seq = 0;  // order of add_request: breaks ties in the waiting queue
  SamplingParams sampling_params;
  int32_t max_tokens = 0;  // effective limit on output tokens

  std::vector<TokenId> all_token_ids;  // the prompt, then every output token
  int32_t num_prompt_tokens = 0;
  // Hashes of every full block of all_token_ids, extended as tokens arrive.
  std::vector<BlockHash> block_hashes;

  RequestStatus status = RequestStatus::WAITING;
  int32_t num_computed_tokens = 0;  // tokens whose KV is (or is being) written
  int32_t num_cached_tokens = -1;   // prefix-cache hit at first scheduling; -1 before
  int32_t num_preemptions = 0;
  int32_t num_scheduled_tokens = 0;  // in the current step
  std::optional<TokenId> stop_reason;

  // KV blocks held, in position order, and how many of the leading full ones
  // have been entered in the prefix cache.
  std::vector<KVCacheBlock*> kv_blocks;
  int32_t num_cached_blocks = 0;

  // Journey tracing (docs/architecture.md, "Observability"): whether the request is traced, and how
  // far its prefill ever got, a high-water mark that survives preemption.
  bool journey_traced = false;
  int32_t journey_prefill_hiwater = 0;

  // QUEUED / SCHEDULED / PREEMPTED since the request's last output; the next
  // output carries them to the frontend's latency metrics.
  std::vector<EngineCoreEvent> core_events;

  // What the workers know of this request, so each step sends only the diff.
  bool known_to_workers = false;
  bool resumed_from_preemption = false;
  int32_t num_tokens_sent = 0;
  int32_t num_block_ids_sent = 0;

  int32_t num_tokens() const { return static_cast<int32_t>(all_token_ids.size()); }
  int32_t num_output_tokens() const { return num_tokens() - num_prompt_tokens; }
};

}  // namespace waypoint
