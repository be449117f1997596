#pragma once
// Engine core -> frontend messages (docs/architecture.md, "Wire contract").
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <msgpack.hpp>

#include "proto/checked_enum.hpp"
#include "proto/engine_core_request.hpp"
#include "proto/journey_event.hpp"

namespace waypoint {

enum class FinishReason : uint8_t { STOP = 0, LENGTH = 1, ABORT = 2, ERROR = 3 };

std::string_view to_string(FinishReason r);  // stop / length / abort / error, as OpenAI names them
bool is_known(FinishReason r);

// vLLM's EngineCoreEventType: the moments of a request's life in the core
// that the frontend needs for its latency metrics (queue, prefill, decode).
enum class EngineCoreEventType : uint8_t { QUEUED = 1, SCHEDULED = 2, PREEMPTED = 3 };

std::string_view to_string(EngineCoreEventType t);
bool is_known(EngineCoreEventType t);

}  // namespace waypoint

WAYPOINT_CHECKED_ENUM(waypoint::FinishReason)
WAYPOINT_CHECKED_ENUM(waypoint::EngineCoreEventType)

namespace waypoint {

struct EngineCoreEvent {
  static constexpr const char* kWireName = "EngineCoreEvent";
  EngineCoreEventType type = EngineCoreEventType::QUEUED;
  double timestamp = 0.0;  // monotonic seconds, the clock the frontend reads too

  bool operator==(const EngineCoreEvent&) const = default;
  MSGPACK_DEFINE_ARRAY(type, timestamp)
};

struct EngineCoreOutput {
  static constexpr const char* kWireName = "EngineCoreOutput";
  std::string request_id;
  std::vector<TokenId> new_token_ids;
  std::optional<FinishReason> finish_reason;
  std::optional<TokenId> stop_reason;  // the stop token id that ended the request, if any
  int32_t num_cached_tokens = 0;       // prefix-cache hit at first scheduling
  // Optional and last: what happened to the request in the core since its
  // previous output, oldest first. Always recorded (a few per request), as
  // the frontend's queue/prefill/decode histograms need them.
  std::vector<EngineCoreEvent> events;

  bool finished() const { return finish_reason.has_value(); }
  bool operator==(const EngineCoreOutput&) const = default;
  MSGPACK_DEFINE_ARRAY(request_id, new_token_ids, finish_reason, stop_reason, num_cached_tokens,
                       events)
};

// A snapshot of the scheduler after a step. Counters are running totals since
// the engine started, so that every frontend, whichever outputs it happened to
// receive, turns them into the same Prometheus counter values.
struct SchedulerStats {
  static constexpr const char* kWireName = "SchedulerStats";
  int32_t num_running_reqs = 0;
  int32_t num_waiting_reqs = 0;
  double kv_cache_usage = 0.0;       // 1 - free/total
  int64_t prefix_cache_queries = 0;  // tokens looked up
  int64_t prefix_cache_hits = 0;     // tokens found
  int64_t num_preemptions = 0;
  uint64_t scheduler_step = 0;
  // Debug gauges: traced requests whose journey has not ended (0 when idle,
  // or tracing state leaked), and events the core's hub publisher dropped
  // since it started.
  int64_t journey_live_states = 0;
  uint64_t events_dropped = 0;
  uint64_t spans_dropped = 0;  // the core's OTLP exporter, since it started

  bool operator==(const SchedulerStats&) const = default;
  MSGPACK_DEFINE_ARRAY(num_running_reqs, num_waiting_reqs, kv_cache_usage, prefix_cache_queries,
                       prefix_cache_hits, num_preemptions, scheduler_step, journey_live_states,
                       events_dropped, spans_dropped)
};

struct EngineCoreOutputs {
  static constexpr const char* kWireName = "EngineCoreOutputs";
  int32_t engine_index = 0;
  std::vector<EngineCoreOutput> outputs;
  std::optional<SchedulerStats> scheduler_stats;
  double timestamp = 0.0;  // monotonic seconds
  std::vector<std::string> finished_requests;
  // Optional and last: absent when journey tracing is off, and an older reader
  // that does not know the field ignores it.
  std::optional<std::vector<RequestJourneyEvent>> journey_events;

  bool operator==(const EngineCoreOutputs&) const = default;
  MSGPACK_DEFINE_ARRAY(engine_index, outputs, scheduler_stats, timestamp, finished_requests,
                       journey_events)
};

}  // namespace waypoint
