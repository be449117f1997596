#pragma once
// Step events on OpenTelemetry spans (docs/architecture.md, "Observability"): the
// step.BATCH_SUMMARY and step.REQUEST_SNAPSHOT events of sampled steps go, as span events, on a
// `scheduler_steps` span (scope vllm.scheduler.step, kind INTERNAL) that
// covers a window of --step-tracing-closure-interval steps, [k*N+1, (k+1)*N].
// A window's span is closed, and handed to the exporter, when its last step
// is recorded or when a step past it shows up, so a span is never held
// open for long and a collector sees step data while the engine runs.
//
// Step-loop cost: moving the step's events into the open span; the span is
// built on the exporter's thread. Not thread-safe: the step loop owns it.
#include <cstdint>
#include <optional>
#include <vector>

#include "proto/event_hub_frame.hpp"
#include "telemetry/otlp_span.hpp"
#include "telemetry/trace_context.hpp"

namespace waypoint {

class StepSpanRecorder {
 public:
  // closure_interval < 1 counts as 1.
  StepSpanRecorder(SpanSink& sink, int64_t closure_interval);
  // Hands over the open span.
  ~StepSpanRecorder();
  StepSpanRecorder(const StepSpanRecorder&) = delete;
  StepSpanRecorder& operator=(const StepSpanRecorder&) = delete;

  // One sampled step's events; each event's "event.type" names its span
  // event. `ts_ns` is when the step ran, on the steady clock
  // (CLOCK_MONOTONIC, as ts.monotonic_ns). Steps come in increasing order.
  void record(uint64_t step_id, int64_t ts_ns, std::vector<HubEvent> events);
  // Every step, sampled or not, may call this: it closes the open span as
  // soon as the loop is past its window, instead of at the next sampled step.
  void advance(uint64_t step_id);
  // Hands over the open span now (shutdown).
  void close();

  // The window (k) of the open span, if one is open.
  std::optional<uint64_t> open_window() const;
  uint64_t spans_closed() const { return spans_closed_; }

 private:
  struct StepEvents {
    int64_t ts_ns = 0;
    std::vector<HubEvent> events;
  };
  struct OpenSpan {
    uint64_t window = 0;
    int64_t start_ns = 0;
    int64_t end_ns = 0;
    std::vector<StepEvents> steps;
  };

  uint64_t window_of(uint64_t step_id) const;
  static std::vector<Span> build_span(const OpenSpan& open, TraceId trace_id, SpanId span_id,
                                      uint64_t interval, int64_t epoch_offset_ns);

  SpanSink& sink_;
  uint64_t interval_;
  int64_t epoch_offset_ns_;  // wall clock minus steady clock, read once
  TraceIdGenerator ids_;
  std::optional<OpenSpan> open_;
  uint64_t spans_closed_ = 0;
};

}  // namespace waypoint
