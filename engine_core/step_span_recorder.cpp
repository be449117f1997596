#include "engine_core/step_span_recorder.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "telemetry/trace_attributes.hpp"

namespace waypoint {

namespace {

int64_t epoch_offset_now() {
  const auto wall = std::chrono::system_clock::now().time_since_epoch();
  const auto steady = std::chrono::steady_clock::now().time_since_epoch();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(wall).count() -
         std::chrono::duration_cast<std::chrono::nanoseconds>(steady).count();
}

std::string event_type(const HubEvent& e) {
  if (const AttrValue* v = e.find(attr::kEventType)) {
    if (const auto* s = std::get_if<std::string>(v)) return *s;
  }
  return "step";
}

}  // namespace

StepSpanRecorder::StepSpanRecorder(SpanSink& sink, int64_t closure_interval)
    : sink_(sink),
      interval_(static_cast<uint64_t>(std::max<int64_t>(1, closure_interval))),
      epoch_offset_ns_(epoch_offset_now()) {}

StepSpanRecorder::~StepSpanRecorder() { close(); }

uint64_t StepSpanRecorder::window_of(uint64_t step_id) const {
  // Steps count from 1 (docs/architecture.md, "Observability"); window k holds [k*N+1, (k+1)*N].
  return step_id == 0 ? 0 : (step_id - 1) / interval_;
}

void StepSpanRecorder::record(uint64_t step_id, int64_t ts_ns, std::vector<HubEvent> events) {
  const uint64_t window = window_of(step_id);
  if (open_ && open_->window != window) close();
  if (!open_) open_ = OpenSpan{window, ts_ns, ts_ns, {}};
  open_->start_ns = std::min(open_->start_ns, ts_ns);
  open_->end_ns = std::max(open_->end_ns, ts_ns);
  open_->steps.push_back(StepEvents{ts_ns, std::move(events)});
  if (step_id >= (window + 1) * interval_) close();  // the window's last step
}

void StepSpanRecorder::advance(uint64_t step_id) {
  if (open_ && window_of(step_id) != open_->window) close();
}

void StepSpanRecorder::close() {
  if (!open_) return;
  auto open = std::make_shared<OpenSpan>(std::move(*open_));
  open_.reset();
  ++spans_closed_;
  sink_.export_deferred(1, [open = std::move(open), trace = ids_.trace_id(), span = ids_.span_id(),
                            interval = interval_, offset = epoch_offset_ns_] {
    return build_span(*open, trace, span, interval, offset);
  });
}

std::optional<uint64_t> StepSpanRecorder::open_window() const {
  if (!open_) return std::nullopt;
  return open_->window;
}

std::vector<Span> StepSpanRecorder::build_span(const OpenSpan& open, TraceId trace_id,
                                               SpanId span_id, uint64_t interval,
                                               int64_t epoch_offset_ns) {
  Span s;
  s.scope = scope_name::kSchedulerStep;
  s.name = span_name::kSchedulerSteps;
  s.kind = SpanKind::kInternal;
  s.trace_id = trace_id;
  s.span_id = span_id;
  s.start_unix_ns = open.start_ns + epoch_offset_ns;
  s.end_unix_ns = open.end_ns + epoch_offset_ns;
  // The window's steps, sampled or not: the events say which were sampled.
  s.attributes.emplace_back(std::string(attr::kStepSpanFirst),
                            static_cast<int64_t>(open.window * interval + 1));
  s.attributes.emplace_back(std::string(attr::kStepSpanLast),
                            static_cast<int64_t>((open.window + 1) * interval));
  s.attributes.emplace_back(std::string(attr::kStepSpanClosureInterval),
                            static_cast<int64_t>(interval));
  for (const StepEvents& step : open.steps) {
    for (const HubEvent& e : step.events) {
      s.events.push_back(SpanEvent{event_type(e), step.ts_ns + epoch_offset_ns, e.attrs});
    }
  }
  std::vector<Span> spans;
  spans.push_back(std::move(s));
  return spans;
}

}  // namespace waypoint
