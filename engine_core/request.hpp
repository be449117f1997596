#pragma once
// A request as the engine core tracks it, from add_request to its end.
#include <cstddef>
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

// Laid out for the step's loops, which visit every running request several times a
// step: what they read and write fills the first kRequestHotBytes (four cache lines,
// see prefetch()); what admission, preemption and the end read comes after.
struct alignas(64) Request {
  std::string request_id;
  std::vector<TokenId> all_token_ids;  // the prompt, then every output token
  int32_t client_index = 0;
  RequestStatus status = RequestStatus::WAITING;
  // Journey tracing (docs/architecture.md, "Observability"): whether the request is
  // traced; journey_prefill_hiwater below is how far its prefill ever got, a high-water
  // mark that survives preemption.
  bool journey_traced = false;
  // What the workers know of this request, so each step sends only the diff (with
  // num_tokens_sent and num_block_ids_sent below).
  bool known_to_workers = false;
  bool resumed_from_preemption = false;

  // KV blocks held, in position order, and (num_cached_blocks below) how many of the
  // leading full ones have been entered in the prefix cache.
  std::vector<KVCacheBlock*> kv_blocks;
  // Hashes of every full block of all_token_ids, extended as tokens arrive.
  std::vector<BlockHash> block_hashes;
  int32_t num_computed_tokens = 0;   // tokens whose KV is (or is being) written
  int32_t num_scheduled_tokens = 0;  // in the current step
  int32_t num_prompt_tokens = 0;
  int32_t max_tokens = 0;  // effective limit on output tokens

  // QUEUED / SCHEDULED / PREEMPTED since the request's last output; the next
  // output carries them to the frontend's latency metrics.
  std::vector<EngineCoreEvent> core_events;
  uint64_t arrival_seq = 0;        // order of add_request: breaks ties in the waiting queue
  int32_t num_cached_tokens = -1;  // prefix-cache hit at first scheduling; -1 before
  int32_t num_cached_blocks = 0;
  int32_t num_tokens_sent = 0;
  int32_t num_block_ids_sent = 0;
  SamplingParams sampling_params;  // check_stop reads min_tokens, stop_token_ids, ignore_eos

  int32_t priority = 0;
  double arrival_time = 0.0;
  int32_t num_preemptions = 0;
  std::optional<TokenId> stop_reason;
  int32_t journey_prefill_hiwater = 0;

  int32_t num_tokens() const { return static_cast<int32_t>(all_token_ids.size()); }
  int32_t num_output_tokens() const { return num_tokens() - num_prompt_tokens; }
};

// The part of a Request that the step's loops touch (see its layout).
inline constexpr size_t kRequestHotBytes = 256;

// The step's loops reach requests through pointers, in an order the hardware
// cannot predict, and a request spans several cache lines that are cold by
// the next step. Each loop starts loading the request kPrefetchAhead places
// ahead, so that its misses overlap the work on the ones before it.
inline constexpr size_t kPrefetchAhead = 4;

inline void prefetch(const Request& r) {
  const char* p = reinterpret_cast<const char*>(&r);
  for (size_t offset = 0; offset < kRequestHotBytes; offset += 64) __builtin_prefetch(p + offset);
}

}  // namespace waypoint
