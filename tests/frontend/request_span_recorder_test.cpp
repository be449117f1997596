// Request spans: llm_request and its child llm_core, built from the API and
// core journey events, with every per-request state removed on every path.
#include "frontend/request_span_recorder.hpp"

#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "frontend/journey_recorder.hpp"
#include "telemetry/trace_attributes.hpp"
#include "tests/telemetry/list_span_sink.hpp"

namespace waypoint {
namespace {

using namespace std::chrono_literals;

using ::waypoint::testing::ListSink;

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

RequestJourneyEvent core(const std::string& id, JourneyEventType type, int64_t ts_ns,
                         uint64_t step) {
  RequestJourneyEvent j;
  j.request_id = id;
  j.event_type = type;
  j.ts_monotonic_ns = ts_ns;
  j.ts_monotonic = static_cast<double>(ts_ns) * 1e-9;
  j.scheduler_step = step;
  j.prefill_total_tokens = 6;
  j.decode_max_tokens = 5;
  if (type == JourneyEventType::SCHEDULED) j.schedule_kind = ScheduleKind::FIRST;
  if (type == JourneyEventType::FINISHED) j.finish_status = FinishStatus::LENGTH;
  return j;
}

const AttrValue* find(const SpanAttributes& attrs, std::string_view key) {
  for (const auto& [k, v] : attrs) {
    if (k == key) return &v;
  }
  return nullptr;
}

std::vector<std::string> names(const Span& s) {
  std::vector<std::string> out;
  for (const auto& e : s.events) out.push_back(e.name);
  return out;
}

struct Fixture {
  ListSink sink;
  RequestSpanRecorder spans;
  JourneyRecorder journey;

  explicit Fixture(RequestSpanRecorder::Options options = {})
      : spans(sink, options), journey({true, 1.0, 0}, nullptr, &spans) {}

  // The core's life of one request, QUEUED to FINISHED, from `t0`.
  void core_life(const std::string& id, int64_t t0) {
    journey.core_events(0, {core(id, JourneyEventType::QUEUED, t0 + 100, 0),
                            core(id, JourneyEventType::SCHEDULED, t0 + 400, 1),
                            core(id, JourneyEventType::FIRST_TOKEN, t0 + 900, 1)});
    journey.core_events(0, {core(id, JourneyEventType::FINISHED, t0 + 2000, 5)});
  }
};

TEST(RequestSpanRecorder, ARequestBecomesLlmRequestWithItsChildLlmCore) {
  Fixture f;
  const RequestSpanStart start = f.journey.span_start(true, {}, GenAiRequest{"tiny", 0.25, 0.5, 1});
  const int64_t t0 = steady_ns();
  {
    ApiJourney api(f.journey, "cmpl-1", t0, start);
    std::map<std::string, std::string> headers;
    api.add_trace_headers(headers);
    auto tp = parse_traceparent(headers.at("traceparent"));
    ASSERT_TRUE(tp);
    EXPECT_EQ(tp->trace_id, start.trace_id);
    EXPECT_EQ(headers.count("tracestate"), 0u);
    api.handoff(6, 5, false);
    f.core_life("cmpl-1", t0);
    api.first_response(t0 + 1000);
    EXPECT_EQ(f.spans.live_states(), 1);
    EXPECT_EQ(f.sink.promised(), 0u);  // llm_request is still open
    api.departed(5, "length");
  }
  EXPECT_EQ(f.spans.live_states(), 0);
  const auto spans = f.sink.spans();
  ASSERT_EQ(spans.size(), 2u);
  const Span& req = spans[0];
  const Span& cor = spans[1];

  EXPECT_EQ(req.name, span_name::kLlmRequest);
  EXPECT_EQ(req.scope, scope_name::kApi);
  EXPECT_EQ(req.kind, SpanKind::kServer);
  EXPECT_EQ(req.trace_id, start.trace_id);
  EXPECT_FALSE(req.parent_span_id.valid());  // no client context: a root
  EXPECT_EQ(names(req), (std::vector<std::string>{"api.ARRIVED", "api.HANDOFF_TO_CORE",
                                                  "api.FIRST_RESPONSE_FROM_CORE", "api.DEPARTED"}));
  EXPECT_EQ(req.status, SpanStatusCode::kUnset);
  EXPECT_EQ(std::get<std::string>(*find(req.attributes, attr::kGenAiRequestId)), "cmpl-1");
  EXPECT_EQ(std::get<std::string>(*find(req.attributes, attr::kGenAiResponseModel)), "tiny");
  EXPECT_EQ(std::get<int64_t>(*find(req.attributes, attr::kGenAiRequestMaxTokens)), 5);
  EXPECT_EQ(std::get<double>(*find(req.attributes, attr::kGenAiRequestTemperature)), 0.25);
  EXPECT_EQ(std::get<double>(*find(req.attributes, attr::kGenAiRequestTopP)), 0.5);
  EXPECT_EQ(std::get<int64_t>(*find(req.attributes, attr::kGenAiRequestN)), 1);
  EXPECT_EQ(std::get<int64_t>(*find(req.attributes, attr::kGenAiUsagePromptTokens)), 6);
  EXPECT_EQ(std::get<int64_t>(*find(req.attributes, attr::kGenAiUsageCompletionTokens)), 5);
  EXPECT_DOUBLE_EQ(std::get<double>(*find(req.attributes, attr::kGenAiLatencyTimeToFirstToken)),
                   1000e-9);
  EXPECT_DOUBLE_EQ(std::get<double>(*find(req.attributes, attr::kGenAiLatencyTimeInQueue)), 300e-9);
  EXPECT_GT(std::get<double>(*find(req.attributes, attr::kGenAiLatencyE2e)), 0.0);
  EXPECT_EQ(req.start_unix_ns, req.events.front().time_unix_ns);
  EXPECT_EQ(req.end_unix_ns, req.events.back().time_unix_ns);

  EXPECT_EQ(cor.name, span_name::kLlmCore);
  EXPECT_EQ(cor.scope, scope_name::kScheduler);
  EXPECT_EQ(cor.kind, SpanKind::kInternal);
  EXPECT_EQ(cor.trace_id, req.trace_id);
  EXPECT_EQ(cor.parent_span_id, req.span_id);
  EXPECT_NE(cor.span_id, req.span_id);
  EXPECT_EQ(names(cor), (std::vector<std::string>{"journey.QUEUED", "journey.SCHEDULED",
                                                  "journey.FIRST_TOKEN", "journey.FINISHED"}));
  // The journey fields ride as event attributes, keyed as on the hub.
  const SpanEvent& scheduled = cor.events[1];
  EXPECT_EQ(std::get<int64_t>(*find(scheduled.attributes, attr::kSchedulerStep)), 1);
  EXPECT_EQ(std::get<std::string>(*find(scheduled.attributes, attr::kPhase)), "WAITING");
  EXPECT_EQ(std::get<int64_t>(*find(scheduled.attributes, attr::kPrefillTotalTokens)), 6);
  EXPECT_EQ(std::get<std::string>(*find(scheduled.attributes, attr::kScheduleKind)), "FIRST");
  EXPECT_EQ(std::get<std::string>(*find(cor.events[3].attributes, attr::kFinishStatus)), "length");
  // One clock: core times fall inside the request's.
  EXPECT_EQ(cor.start_unix_ns - req.start_unix_ns, 100);
  EXPECT_EQ(cor.end_unix_ns - req.start_unix_ns, 2000);
  EXPECT_EQ(cor.events[1].time_unix_ns - req.start_unix_ns, 400);
}

TEST(RequestSpanRecorder, TheClientsTraceIsContinued) {
  Fixture f;
  const RequestSpanStart start = f.journey.span_start(
      true,
      {{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"},
       {"tracestate", "rojo=1"}},
      GenAiRequest{"tiny"});
  const int64_t t0 = steady_ns();
  std::map<std::string, std::string> headers;
  {
    // Two prompts of one HTTP request: one trace, two llm_request spans.
    ApiJourney a(f.journey, "cmpl-2-0", t0, start);
    ApiJourney b(f.journey, "cmpl-2-1", t0, start);
    a.add_trace_headers(headers);
    f.core_life("cmpl-2-0", t0);
    f.core_life("cmpl-2-1", t0);
    a.departed(5, "length");
    b.departed(5, "length");
  }
  auto tp = parse_traceparent(headers.at("traceparent"));
  ASSERT_TRUE(tp);
  EXPECT_EQ(tp->trace_id.hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(tp->flags, kTraceFlagSampled);
  EXPECT_EQ(headers.at("tracestate"), "rojo=1");
  const auto spans = f.sink.spans();
  ASSERT_EQ(spans.size(), 4u);
  for (const Span& s : spans) EXPECT_EQ(s.trace_id.hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(spans[0].parent_span_id.hex(), "00f067aa0ba902b7");
  EXPECT_EQ(spans[0].trace_state, "rojo=1");
  EXPECT_EQ(tp->parent_id, spans[0].span_id);  // the core is told llm_request
  EXPECT_EQ(spans[1].parent_span_id, spans[0].span_id);
  EXPECT_EQ(spans[2].parent_span_id.hex(), "00f067aa0ba902b7");
  EXPECT_NE(spans[2].span_id, spans[0].span_id);
}

TEST(RequestSpanRecorder, AHangUpWaitsForTheCoresFinished) {
  Fixture f;
  const RequestSpanStart start = f.journey.span_start(true, {}, GenAiRequest{"tiny"});
  const int64_t t0 = steady_ns();
  {
    ApiJourney api(f.journey, "cmpl-3", t0, start);
    api.handoff(6, 5, true);
    f.journey.core_events(0, {core("cmpl-3", JourneyEventType::QUEUED, t0 + 10, 0)});
    api.aborted("client disconnected");
  }
  // ABORTED came first: llm_core is still waiting for its FINISHED.
  EXPECT_EQ(f.spans.live_states(), 1);
  EXPECT_EQ(f.sink.promised(), 0u);
  auto finished = core("cmpl-3", JourneyEventType::FINISHED, t0 + 50, 1);
  finished.finish_status = FinishStatus::ABORTED;
  f.journey.core_events(0, {finished});
  EXPECT_EQ(f.spans.live_states(), 0);
  const auto spans = f.sink.spans();
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[0].status, SpanStatusCode::kError);
  EXPECT_EQ(spans[0].status_message, "client disconnected");
  EXPECT_EQ(names(spans[0]).back(), "api.ABORTED");
  EXPECT_EQ(names(spans[1]).back(), "journey.FINISHED");
}

TEST(RequestSpanRecorder, AnEngineDeathEndsLlmCoreAndEachRequestGoesAtItsApiEnd) {
  Fixture f;
  const RequestSpanStart start = f.journey.span_start(true, {}, GenAiRequest{"tiny"});
  const int64_t t0 = steady_ns();
  ApiJourney running(f.journey, "cmpl-4", t0, start);
  ApiJourney aborted(f.journey, "cmpl-5", t0, start);
  f.journey.core_events(0, {core("cmpl-4", JourneyEventType::QUEUED, t0 + 10, 0),
                            core("cmpl-5", JourneyEventType::QUEUED, t0 + 10, 0)});
  aborted.aborted("client disconnected");
  EXPECT_EQ(f.spans.live_states(), 2);
  f.journey.engine_dead("engine-0 exited with code 9");
  EXPECT_EQ(f.spans.live_states(), 1);  // cmpl-5 had ended on its API side
  running.aborted("engine failed");
  EXPECT_EQ(f.spans.live_states(), 0);
  // After the death nothing lingers, not even for a request that starts now.
  { ApiJourney late(f.journey, "cmpl-6", t0, start); }
  EXPECT_EQ(f.spans.live_states(), 0);
  const auto spans = f.sink.spans();
  ASSERT_EQ(spans.size(), 6u);
  for (size_t i = 1; i < spans.size(); i += 2) {
    EXPECT_EQ(spans[i].name, span_name::kLlmCore);
    EXPECT_EQ(spans[i].status, SpanStatusCode::kError);
    EXPECT_NE(spans[i].status_message.find("engine-0 exited"), std::string::npos);
  }
}

TEST(RequestSpanRecorder, AFinishedThatNeverComesIsWaitedForOnlySoLong) {
  Fixture f(RequestSpanRecorder::Options{0ms});
  const RequestSpanStart start = f.journey.span_start(true, {}, GenAiRequest{"tiny"});
  {
    ApiJourney api(f.journey, "cmpl-7", steady_ns(), start);
    api.aborted("client disconnected");
  }
  // Past its deadline, the next event of any request sweeps it out.
  f.journey.core_events(0, {core("other", JourneyEventType::QUEUED, steady_ns(), 0)});
  EXPECT_EQ(f.spans.live_states(), 0);
  EXPECT_EQ(f.sink.spans().size(), 2u);
}

TEST(RequestSpanRecorder, DestructionHandsOverWhatIsOpen) {
  ListSink sink;
  {
    RequestSpanRecorder spans(sink);
    JourneyRecorder journey({true, 1.0, 0}, nullptr, &spans);
    {
      ApiJourney api(journey, "cmpl-8", steady_ns(), journey.span_start(true, {}, GenAiRequest{}));
      api.aborted("client disconnected");  // llm_core still open
    }
    EXPECT_EQ(spans.live_states(), 1);
  }
  const auto spans = sink.spans();
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[1].status_message, "the frontend shut down");
}

TEST(RequestSpanRecorder, UntracedOrUnknownRequestsLeaveNoState) {
  Fixture f;
  // Not sampled: no span start, and an untraced journey does nothing.
  EXPECT_FALSE(f.journey.span_start(false, {}, GenAiRequest{}).trace_id.valid());
  {
    ApiJourney untraced;
    std::map<std::string, std::string> headers;
    untraced.add_trace_headers(headers);
    EXPECT_TRUE(headers.empty());
  }
  f.journey.core_events(0, {core("never-begun", JourneyEventType::FINISHED, 1, 1)});
  EXPECT_EQ(f.spans.live_states(), 0);
  EXPECT_EQ(f.sink.promised(), 0u);
}

}  // namespace
}  // namespace waypoint
