#pragma once
// One transition in a request's life inside the engine core (docs/journey-tracing.md).
// Carried in EngineCoreOutputs.journey_events.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <msgpack.hpp>

#include "proto/checked_enum.hpp"

namespace waypoint {

enum class JourneyEventType : uint8_t {
  QUEUED = 1,
  SCHEDULED = 2,
  FIRST_TOKEN = 3,
  PREEMPTED = 4,
  FINISHED = 5,
};

enum class ScheduleKind : uint8_t { FIRST = 1, RESUME = 2 };

enum class RequestPhase : uint8_t { WAITING = 0, PREFILL = 1, DECODE = 2 };

enum class FinishStatus : uint8_t { STOPPED = 0, LENGTH = 1, ABORTED = 2, IGNORED = 3, ERROR = 4 };

std::string_view to_string(JourneyEventType t);
std::string_view to_string(ScheduleKind k);
std::string_view to_string(RequestPhase p);
std::string_view to_string(FinishStatus s);  // stopped / length / aborted / ignored / error

bool is_known(JourneyEventType t);
bool is_known(ScheduleKind k);
bool is_known(RequestPhase p);
bool is_known(FinishStatus s);

}  // namespace waypoint

WAYPOINT_CHECKED_ENUM(waypoint::JourneyEventType)
WAYPOINT_CHECKED_ENUM(waypoint::ScheduleKind)
WAYPOINT_CHECKED_ENUM(waypoint::RequestPhase)
WAYPOINT_CHECKED_ENUM(waypoint::FinishStatus)

namespace waypoint {

struct RequestJourneyEvent {
  static constexpr const char* kWireName = "RequestJourneyEvent";
  std::string request_id;
  JourneyEventType event_type = JourneyEventType::QUEUED;
  double ts_monotonic = 0.0;  // seconds; same clock read as ts_monotonic_ns
  int64_t ts_monotonic_ns = 0;
  uint64_t scheduler_step = 0;
  int32_t prefill_done_tokens = 0;  // high-water mark, survives preemption
  int32_t prefill_total_tokens = 0;
  int32_t decode_done_tokens = 0;
  int32_t decode_max_tokens = 0;
  RequestPhase phase = RequestPhase::WAITING;
  int32_t num_preemptions = 0;
  std::optional<ScheduleKind> schedule_kind;  // SCHEDULED only
  std::optional<FinishStatus> finish_status;  // FINISHED only

  bool operator==(const RequestJourneyEvent&) const = default;
  MSGPACK_DEFINE_ARRAY(request_id, event_type, ts_monotonic, ts_monotonic_ns, scheduler_step,
                       prefill_done_tokens, prefill_total_tokens, decode_done_tokens,
                       decode_max_tokens, phase, num_preemptions, schedule_kind, finish_status)
};

}  // namespace waypoint
