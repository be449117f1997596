#pragma once
// The OpenTelemetry spans of traced requests (docs/architecture.md, "Observability"): per engine
// request, `llm_request` (scope vllm.api, kind SERVER) with the api.* events
// and gen_ai.* attributes, and its child `llm_core` (scope vllm.scheduler,
// kind INTERNAL) with the core's journey.* events. The frontend builds both:
// the core's journey events reach it on EngineCoreOutputs anyway.
//
// While a request runs, only its raw events are kept (a copy each, on the
// HTTP thread or the engine client's output thread); the spans are built
// and encoded on the exporter's thread once both halves have ended:
// llm_core at the core's FINISHED, llm_request at DEPARTED or ABORTED, in
// either order. Every state is removed on every path: both ends seen, the
// engine gone (engine_dead), a FINISHED that never comes (a deadline), or
// the recorder destroyed.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "proto/event_hub_frame.hpp"
#include "proto/journey_event.hpp"
#include "telemetry/otlp_span.hpp"
#include "telemetry/trace_context.hpp"

namespace waypoint {

// What the client asked for, as gen_ai.request.* reports it.
struct GenAiRequest {
  std::string model;
  double temperature = 1.0;
  double top_p = 1.0;
  int32_t n = 1;
};

// Where one HTTP request's spans hang: its trace, the client's span as
// llm_request's parent (invalid: llm_request is a root) and the client's
// tracestate. Shared by every prompt of the request.
struct RequestSpanStart {
  TraceId trace_id;
  SpanId parent_span_id;
  std::string trace_state;
  GenAiRequest request;
};

class RequestSpanRecorder {
 public:
  struct Options {
    // After DEPARTED or ABORTED, how long the core's FINISHED may take
    // before the spans go out without it (it should never be lost; this
    // bounds the state if it is).
    std::chrono::milliseconds core_wait{30000};
  };

  explicit RequestSpanRecorder(SpanSink& sink) : RequestSpanRecorder(sink, Options{}) {}
  RequestSpanRecorder(SpanSink& sink, Options options);
  // Exports what is still open, ended now.
  ~RequestSpanRecorder();
  RequestSpanRecorder(const RequestSpanRecorder&) = delete;
  RequestSpanRecorder& operator=(const RequestSpanRecorder&) = delete;

  // The client's trace context from the request headers, or a new trace.
  RequestSpanStart start(const std::vector<std::pair<std::string, std::string>>& headers,
                         GenAiRequest request);

  // A traced engine request begins (before its ARRIVED). Returns the trace
  // context its children continue: the trace, and llm_request as parent
  // (the traceparent the core is sent).
  TraceParent begin(const std::string& request_id, const RequestSpanStart& start);
  // One api.* event as the hub gets it (it carries ts.monotonic_ns); `last`
  // for DEPARTED or ABORTED.
  void api_event(const std::string& request_id, const HubEvent& event, bool last);
  // The core's journey events for this frontend (the engine client's output thread).
  void core_events(const std::vector<RequestJourneyEvent>& events);
  // The engine core is gone: no FINISHED will come. llm_core spans end now,
  // with an error status; each request's spans go out at its API end.
  void engine_dead(const std::string& reason);

  // Requests with spans not yet handed to the exporter.
  int64_t live_states() const { return live_.load(std::memory_order_relaxed); }
  // Spans the exporter lost (waypoint:otlp_spans_dropped_total).
  uint64_t dropped() const { return sink_.dropped(); }

 private:
  struct State;
  using StatePtr = std::shared_ptr<State>;

  // The two spans of one finished request, on the exporter's thread.
  static std::vector<Span> build_spans(const State& state, int64_t epoch_offset_ns);
  // With mutex_ held.
  void end_core(State& state, int64_t ts_ns, std::string reason);
  StatePtr take(const std::string& request_id);
  void expire(std::chrono::steady_clock::time_point now, std::vector<StatePtr>& done);
  void finish(std::vector<StatePtr> done);

  SpanSink& sink_;
  Options options_;
  int64_t epoch_offset_ns_;  // wall clock minus steady clock, read once
  TraceIdGenerator ids_;

  mutable std::mutex mutex_;
  std::unordered_map<std::string, StatePtr> states_;
  // API ended, FINISHED awaited: (deadline, request id), oldest first.
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::string>> awaiting_core_;
  bool engine_dead_ = false;
  std::string dead_reason_;
  std::atomic<int64_t> live_{0};
};

}  // namespace waypoint
