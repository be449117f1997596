// Names of the wire enums, as they appear in traces and the OpenAI API.
#include "proto/engine_core_output.hpp"
#include "proto/journey_event.hpp"

namespace waypoint {

std::string_view to_string(JourneyEventType t) {
  switch (t) {
    case JourneyEventType::QUEUED:
      return "QUEUED";
    case JourneyEventType::SCHEDULED:
      return "SCHEDULED";
    case JourneyEventType::FIRST_TOKEN:
      return "FIRST_TOKEN";
    case JourneyEventType::PREEMPTED:
      return "PREEMPTED";
    case JourneyEventType::FINISHED:
      return "FINISHED";
  }
  return "UNKNOWN";
}

std::string_view to_string(ScheduleKind k) {
  switch (k) {
    case ScheduleKind::FIRST:
      return "FIRST";
    case ScheduleKind::RESUME:
      return "RESUME";
  }
  return "UNKNOWN";
}

std::string_view to_string(RequestPhase p) {
  switch (p) {
    case RequestPhase::WAITING:
      return "WAITING";
    case RequestPhase::PREFILL:
      return "PREFILL";
    case RequestPhase::DECODE:
      return "DECODE";
  }
  return "UNKNOWN";
}

std::string_view to_string(FinishStatus s) {
  switch (s) {
    case FinishStatus::STOPPED:
      return "stopped";
    case FinishStatus::LENGTH:
      return "length";
    case FinishStatus::ABORTED:
      return "aborted";
    case FinishStatus::IGNORED:
      return "ignored";
    case FinishStatus::ERROR:
      return "error";
  }
  return "unknown";
}

std::string_view to_string(FinishReason r) {
  switch (r) {
    case FinishReason::STOP:
      return "stop";
    case FinishReason::LENGTH:
      return "length";
    case FinishReason::ABORT:
      return "abort";
    case FinishReason::ERROR:
      return "error";
  }
  return "unknown";
}

bool is_known(JourneyEventType t) {
  return t >= JourneyEventType::QUEUED && t <= JourneyEventType::FINISHED;
}
bool is_known(ScheduleKind k) { return k == ScheduleKind::FIRST || k == ScheduleKind::RESUME; }
bool is_known(RequestPhase p) { return p <= RequestPhase::DECODE; }
bool is_known(FinishStatus s) { return s <= FinishStatus::ERROR; }
bool is_known(FinishReason r) { return r <= FinishReason::ERROR; }

std::string_view to_string(EngineCoreEventType t) {
  switch (t) {
    case EngineCoreEventType::QUEUED:
      return "QUEUED";
    case EngineCoreEventType::SCHEDULED:
      return "SCHEDULED";
    case EngineCoreEventType::PREEMPTED:
      return "PREEMPTED";
  }
  return "UNKNOWN";
}

bool is_known(EngineCoreEventType t) {
  return t >= EngineCoreEventType::QUEUED && t <= EngineCoreEventType::PREEMPTED;
}

}  // namespace waypoint
