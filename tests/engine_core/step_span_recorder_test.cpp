// Step spans: one `scheduler_steps` span per window of
// --step-tracing-closure-interval steps, closed as soon as its window is over.
#include "engine_core/step_span_recorder.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "telemetry/trace_attributes.hpp"
#include "tests/telemetry/list_span_sink.hpp"

namespace waypoint {
namespace {

using ::waypoint::testing::ListSink;

HubEvent step_event(std::string_view type, uint64_t step) {
  HubEvent e;
  e.attrs.emplace_back(std::string(attr::kEventType), std::string(type));
  e.attrs.emplace_back(std::string(attr::kStepId), static_cast<int64_t>(step));
  return e;
}

std::vector<HubEvent> summary(uint64_t step) {
  return {step_event(event_name::kBatchSummary, step)};
}

int64_t int_attr(const SpanAttributes& attrs, std::string_view key) {
  for (const auto& [k, v] : attrs) {
    if (k == key) return std::get<int64_t>(v);
  }
  ADD_FAILURE() << "no " << key;
  return -1;
}

std::vector<int64_t> steps_of(const Span& s) {
  std::vector<int64_t> out;
  for (const SpanEvent& e : s.events) out.push_back(int_attr(e.attributes, attr::kStepId));
  return out;
}

TEST(StepSpanRecorder, OneSpanPerWindowClosedAtItsLastStep) {
  ListSink sink;
  StepSpanRecorder recorder(sink, 3);
  for (uint64_t step = 1; step <= 3; ++step) recorder.record(step, 1000 * step, summary(step));
  // Step 3 ends window [1, 3]: its span is out without waiting for step 4.
  EXPECT_EQ(recorder.spans_closed(), 1u);
  EXPECT_FALSE(recorder.open_window());
  const auto spans = sink.spans();
  ASSERT_EQ(spans.size(), 1u);
  const Span& s = spans[0];
  EXPECT_EQ(s.scope, scope_name::kSchedulerStep);
  EXPECT_EQ(s.name, span_name::kSchedulerSteps);
  EXPECT_EQ(s.kind, SpanKind::kInternal);
  EXPECT_TRUE(s.trace_id.valid());
  EXPECT_FALSE(s.parent_span_id.valid());
  EXPECT_EQ(int_attr(s.attributes, attr::kStepSpanFirst), 1);
  EXPECT_EQ(int_attr(s.attributes, attr::kStepSpanLast), 3);
  EXPECT_EQ(int_attr(s.attributes, attr::kStepSpanClosureInterval), 3);
  EXPECT_EQ(steps_of(s), (std::vector<int64_t>{1, 2, 3}));
  ASSERT_EQ(s.events.size(), 3u);
  EXPECT_EQ(s.events[0].name, event_name::kBatchSummary);
  // Steady-clock times, shifted to the wall clock by one offset.
  EXPECT_EQ(s.events[2].time_unix_ns - s.events[0].time_unix_ns, 2000);
  EXPECT_EQ(s.start_unix_ns, s.events[0].time_unix_ns);
  EXPECT_EQ(s.end_unix_ns, s.events[2].time_unix_ns);
}

TEST(StepSpanRecorder, AStepPastTheWindowClosesItAndOpensTheNext) {
  ListSink sink;
  StepSpanRecorder recorder(sink, 4);
  recorder.record(5, 50, summary(5));  // sampled steps only: 5, 6, then 10
  recorder.record(6, 60, summary(6));
  EXPECT_EQ(recorder.open_window(), 1u);
  recorder.record(10, 100, summary(10));
  EXPECT_EQ(recorder.open_window(), 2u);
  recorder.close();
  const auto spans = sink.spans();
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(steps_of(spans[0]), (std::vector<int64_t>{5, 6}));
  EXPECT_EQ(int_attr(spans[0].attributes, attr::kStepSpanFirst), 5);
  EXPECT_EQ(int_attr(spans[0].attributes, attr::kStepSpanLast), 8);
  EXPECT_EQ(steps_of(spans[1]), (std::vector<int64_t>{10}));
  EXPECT_EQ(int_attr(spans[1].attributes, attr::kStepSpanFirst), 9);
  EXPECT_NE(spans[0].trace_id, spans[1].trace_id);
  EXPECT_NE(spans[0].span_id, spans[1].span_id);
}

TEST(StepSpanRecorder, AdvanceClosesAWindowTheLoopHasLeft) {
  ListSink sink;
  StepSpanRecorder recorder(sink, 10);
  recorder.record(2, 20, summary(2));
  recorder.advance(10);  // still in [1, 10]
  EXPECT_EQ(recorder.spans_closed(), 0u);
  recorder.advance(11);
  EXPECT_EQ(recorder.spans_closed(), 1u);
  EXPECT_FALSE(recorder.open_window());
  recorder.advance(12);  // nothing open, nothing to do
  EXPECT_EQ(sink.promised(), 1u);
}

TEST(StepSpanRecorder, SnapshotsRideOnTheSameSpanAsTheirSummary) {
  ListSink sink;
  StepSpanRecorder recorder(sink, 2);
  std::vector<HubEvent> events = summary(1);
  events.push_back(step_event(event_name::kRequestSnapshot, 1));
  events.push_back(step_event(event_name::kRequestSnapshot, 1));
  recorder.record(1, 10, std::move(events));
  recorder.record(2, 20, summary(2));
  const auto spans = sink.spans();
  ASSERT_EQ(spans.size(), 1u);
  ASSERT_EQ(spans[0].events.size(), 4u);
  EXPECT_EQ(spans[0].events[1].name, event_name::kRequestSnapshot);
  EXPECT_EQ(spans[0].events[1].time_unix_ns, spans[0].events[0].time_unix_ns);
}

TEST(StepSpanRecorder, IntervalOneIsASpanPerStepAndZeroCountsAsOne) {
  for (int64_t interval : {1, 0, -5}) {
    ListSink sink;
    StepSpanRecorder recorder(sink, interval);
    for (uint64_t step = 1; step <= 4; ++step) recorder.record(step, 0, summary(step));
    EXPECT_EQ(recorder.spans_closed(), 4u) << interval;
    EXPECT_FALSE(recorder.open_window());
  }
}

TEST(StepSpanRecorder, TheOpenSpanIsHandedOverOnDestruction) {
  ListSink sink;
  {
    StepSpanRecorder recorder(sink, 100);
    recorder.record(1, 0, summary(1));
    EXPECT_EQ(sink.promised(), 0u);
  }
  EXPECT_EQ(sink.spans().size(), 1u);
}

}  // namespace
}  // namespace waypoint
