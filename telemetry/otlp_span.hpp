#pragma once
// A finished span as the OTLP exporter takes it (docs/opentelemetry.md): plain data, with the same
// attribute values as the event hub's events, so a hub event becomes a span event without
// conversion.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "proto/event_hub_frame.hpp"
#include "telemetry/trace_context.hpp"

namespace waypoint {

using SpanAttributes = std::vector<std::pair<std::string, AttrValue>>;

// OTLP's Span.SpanKind numbers.
enum class SpanKind : int { kUnspecified = 0, kInternal = 1, kServer = 2, kClient = 3 };

// OTLP's Status.StatusCode numbers.
enum class SpanStatusCode : int { kUnset = 0, kOk = 1, kError = 2 };

struct SpanEvent {
  std::string name;
  int64_t time_unix_ns = 0;
  SpanAttributes attributes;

  bool operator==(const SpanEvent&) const = default;
};

struct Span {
  std::string scope;  // instrumentation scope: "vllm.api", "vllm.scheduler", ...
  std::string name;   // "llm_request", "llm_core", "scheduler_steps"
  TraceId trace_id;
  SpanId span_id;
  SpanId parent_span_id;  // invalid (zero): a root span
  std::string trace_state;
  SpanKind kind = SpanKind::kInternal;
  int64_t start_unix_ns = 0;
  int64_t end_unix_ns = 0;
  SpanAttributes attributes;
  std::vector<SpanEvent> events;
  SpanStatusCode status = SpanStatusCode::kUnset;
  std::string status_message;

  bool operator==(const Span&) const = default;
};

// Where finished spans go: the OTLP exporter, or a test's list.
class SpanSink {
 public:
  virtual ~SpanSink() = default;
  // `count` spans that `make` builds later, off the caller's thread: a caller
  // on a hot path hands over its raw records and pays only for moving them.
  // Never blocks.
  using MakeSpans = std::function<std::vector<Span>()>;
  virtual void export_deferred(size_t count, MakeSpans make) = 0;
  // Spans lost on the way (a full queue, a collector that refused them).
  virtual uint64_t dropped() const { return 0; }
};

}  // namespace waypoint
