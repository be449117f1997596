// `waypoint fit` on OTLP JSON: one small trace, recorded once and written both
// as `waypoint events` JSONL and as the OTLP exports Waypoint's own span
// recorders and encoder (frontend/request_span_recorder,
// engine_core/step_span_recorder, telemetry/otlp_json) produce, must give the
// same training sets; and a broken export is counted and skipped like a
// broken JSONL line.
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine_core/step_span_recorder.hpp"
#include "engine_core/step_trace.hpp"
#include "frontend/journey_recorder.hpp"
#include "frontend/request_span_recorder.hpp"
#include "perf/fit_dataset.hpp"
#include "perf/fit_otlp_reader.hpp"
#include "telemetry/otlp_json.hpp"
#include "telemetry/trace_attributes.hpp"
#include "tools/event_format.hpp"

namespace waypoint::fit {
namespace {

// Builds the spans synchronously, where the exporter would on its thread.
class CapturingSink final : public SpanSink {
 public:
  void export_deferred(size_t, MakeSpans make) override {
    for (Span& s : make()) spans.push_back(std::move(s));
  }
  std::vector<Span> spans;
};

// The same events, kept twice: as the hub publishes them (for the JSONL) and
// handed to the span recorders (for OTLP).
class TwoFormats {
 public:
  TwoFormats() : requests_(request_sink_), steps_(step_sink_, /*closure_interval=*/4) {}

  // A traced request: `http_id` is what the API events carry, `engine_id`
  // what the core's do ("-N" per prompt of a multi-prompt request).
  void begin(const std::string& engine_id) {
    requests_.begin(engine_id, requests_.start({}, GenAiRequest{"demo"}));
  }

  void api(const std::string& engine_id, const std::string& http_id, std::string_view type,
           std::int64_t ts_ns, bool last = false) {
    HubEvent e;
    e.attrs = {{std::string(attr::kEventType), std::string(type)},
               {std::string(attr::kRequestId), http_id},
               {std::string(attr::kTsMonotonic), static_cast<double>(ts_ns) * 1e-9},
               {std::string(attr::kTsMonotonicNs), ts_ns},
               {std::string(attr::kTsEpochNs), ts_ns + kEpochOffset}};
    if (type == event_name::kHandoffToCore) {
      e.attrs.emplace_back(std::string(attr::kNumPromptTokens), std::int64_t{40});
      e.attrs.emplace_back(std::string(attr::kMaxTokens), std::int64_t{8});
    }
    jsonl("journey", "frontend-0", e);
    requests_.api_event(engine_id, e, last);
  }

  void core(const std::string& engine_id, JourneyEventType type, std::int64_t ts_ns,
            std::uint64_t step, std::int32_t prompt_tokens,
            std::optional<ScheduleKind> kind = std::nullopt) {
    RequestJourneyEvent j;
    j.request_id = engine_id;
    j.event_type = type;
    j.ts_monotonic = static_cast<double>(ts_ns) * 1e-9;
    j.ts_monotonic_ns = ts_ns;
    j.scheduler_step = step;
    j.prefill_total_tokens = prompt_tokens;
    j.decode_max_tokens = 8;
    j.phase = type == JourneyEventType::QUEUED ? RequestPhase::WAITING : RequestPhase::DECODE;
    j.schedule_kind = kind;
    if (type == JourneyEventType::FINISHED) j.finish_status = FinishStatus::LENGTH;
    jsonl("journey", "engine-0", journey_hub_event(j, kEpochOffset));
    requests_.core_events({j});
  }

  // Step `id` ran [start, start + duration); every fourth one also has a
  // snapshot, which fit ignores in both formats.
  void step(std::uint64_t id, std::int64_t start_ns, std::int64_t duration_us, std::int32_t prefill,
            std::int32_t decode, std::int32_t preempted = 0) {
    StepRecord r;
    BatchSummary& b = r.summary;
    b.step_id = id;
    b.ts_start_ns = start_ns;
    b.ts_end_ns = start_ns + duration_us * 1000;
    b.duration_us = duration_us;
    b.gap_us = 100;
    b.running_depth = decode + (prefill > 0 ? 1 : 0);
    b.waiting_depth = static_cast<std::int32_t>(id % 3);
    b.num_prefill_reqs = prefill > 0 ? 1 : 0;
    b.num_decode_reqs = decode;
    b.prefill_tokens = prefill;
    b.decode_tokens = decode;
    b.scheduled_tokens = prefill + decode;
    b.num_preempted = preempted;
    b.decode_ctx_tokens_sum = 50 * decode + static_cast<std::int64_t>(id);
    b.prefill_ctx_tokens_sum = prefill;
    b.prefill_attention_pairs = static_cast<std::int64_t>(prefill) * (prefill + 1) / 2;
    b.kv_usage = 0.05 * static_cast<double>(id);  // not a whole number: doubleValue
    b.kv_blocks_total = 100;
    b.kv_blocks_free = 100 - static_cast<std::int32_t>(id);
    if (id % 4 == 0) {
      r.rich = true;
      r.snapshots.push_back(
          RequestSnapshot{"req-a", RequestPhase::DECODE, 40, 41, 2, 0, 1, 40, 3, 0});
    }
    std::vector<HubEvent> events = step_hub_events(r, kEpochOffset);
    for (const HubEvent& e : events) jsonl("step", "engine-0", e);
    steps_.record(id, b.ts_end_ns, std::move(events));
  }

  std::string jsonl_text() const { return jsonl_; }

  // Two exports, as two processes send them: the frontend's request spans
  // and the engine's step spans.
  std::string otlp_text() {
    steps_.close();
    const auto resource = [](const std::string& process) {
      return SpanAttributes{{std::string(attr::kServiceName), std::string("waypoint")},
                            {std::string(attr::kServiceInstanceId), process}};
    };
    return encode_otlp_traces(request_sink_.spans, resource("frontend-0")) + "\n" +
           encode_otlp_traces(step_sink_.spans, resource("engine-0")) + "\n";
  }
  std::size_t request_spans() const { return request_sink_.spans.size(); }

 private:
  static constexpr std::int64_t kEpochOffset = 1795475209000000000;

  void jsonl(std::string_view topic, const std::string& producer, const HubEvent& e) {
    jsonl_ += hub_event_jsonl(++seq_, topic, HubPayload{1795475209.0, producer, {}}, e) + "\n";
  }

  CapturingSink request_sink_;
  CapturingSink step_sink_;
  RequestSpanRecorder requests_;
  StepSpanRecorder steps_;
  std::string jsonl_;
  std::uint64_t seq_ = 0;
};

Dataset read_text(const std::string& text, std::vector<std::string>* warnings = nullptr,
                  std::vector<std::size_t>* bad_lines = nullptr) {
  std::istringstream in(text);
  DatasetOptions options;
  options.warmup_steps = 1;
  return read_dataset(in, options, [&](std::size_t line, const std::string& reason) {
    if (warnings) warnings->push_back(reason);
    if (bad_lines) bad_lines->push_back(line);
  });
}

std::string beta_csv(const Dataset& d) {
  std::ostringstream out;
  write_beta_csv(out, d);
  return out.str();
}

std::string alpha_csv(const Dataset& d) {
  std::ostringstream out;
  write_alpha_csv(out, d);
  return out.str();
}

constexpr std::int64_t kMs = 1000000;

TEST(FitOtlpReader, SameTraceAsJsonlAndOtlpGivesTheSameDataset) {
  TwoFormats t;
  t.begin("req-a");
  t.begin("cmpl-c-0");
  t.begin("req-b");
  // req-a: arrives, runs, finishes.
  t.api("req-a", "req-a", event_name::kArrived, 1 * kMs);
  t.api("req-a", "req-a", event_name::kHandoffToCore, 1 * kMs + 20000);
  t.core("req-a", JourneyEventType::QUEUED, 1 * kMs + 50000, 0, 40);
  t.step(1, 2 * kMs, 700, 40, 0);
  t.core("req-a", JourneyEventType::SCHEDULED, 2 * kMs, 1, 40, ScheduleKind::FIRST);
  t.core("req-a", JourneyEventType::FIRST_TOKEN, 2 * kMs + 700000, 1, 40);
  t.api("req-a", "req-a", event_name::kFirstResponseFromCore, 2 * kMs + 800000);
  t.step(2, 3 * kMs, 400, 0, 1);
  // cmpl-c, the first prompt of a multi-prompt request: the API events carry
  // the HTTP id, the core's the engine id.
  t.api("cmpl-c-0", "cmpl-c", event_name::kArrived, 3 * kMs + 100000);
  t.api("cmpl-c-0", "cmpl-c", event_name::kHandoffToCore, 3 * kMs + 150000);
  t.core("cmpl-c-0", JourneyEventType::QUEUED, 3 * kMs + 420000, 2, 12);
  t.step(3, 4 * kMs, 650, 12, 1);
  t.core("cmpl-c-0", JourneyEventType::SCHEDULED, 4 * kMs, 3, 12, ScheduleKind::FIRST);
  // req-b: queued while steps run, preempted, resumed.
  t.api("req-b", "req-b", event_name::kArrived, 4 * kMs + 300000);
  t.core("req-b", JourneyEventType::QUEUED, 4 * kMs + 700000, 3, 25);
  t.step(4, 5 * kMs, 800, 25, 2);
  t.core("req-b", JourneyEventType::SCHEDULED, 5 * kMs, 4, 25, ScheduleKind::FIRST);
  t.step(5, 6 * kMs, 450, 0, 3, /*preempted=*/1);
  t.core("req-b", JourneyEventType::PREEMPTED, 6 * kMs, 5, 25);
  t.step(6, 7 * kMs, 420, 0, 2);
  t.core("req-b", JourneyEventType::SCHEDULED, 7 * kMs, 6, 25, ScheduleKind::RESUME);
  for (const std::string id : {"req-a", "cmpl-c-0", "req-b"}) {
    t.core(id, JourneyEventType::FINISHED, 7 * kMs + 500000, 6, 1);
  }
  t.api("req-a", "req-a", event_name::kDeparted, 7 * kMs + 600000, /*last=*/true);
  t.api("cmpl-c-0", "cmpl-c", event_name::kDeparted, 7 * kMs + 650000, /*last=*/true);
  t.api("req-b", "req-b", event_name::kDeparted, 7 * kMs + 700000, /*last=*/true);
  ASSERT_EQ(t.request_spans(), 6u);  // both halves of every request ended

  std::vector<std::string> jsonl_warnings, otlp_warnings;
  const Dataset from_jsonl = read_text(t.jsonl_text(), &jsonl_warnings);
  const std::string otlp = t.otlp_text();
  // What is decoded must be what was sent: an intValue arrives as a string.
  ASSERT_NE(otlp.find(R"({"key":"step.id","value":{"intValue":"3"}})"), std::string::npos);
  const Dataset from_otlp = read_text(otlp, &otlp_warnings);

  EXPECT_TRUE(jsonl_warnings.empty()) << jsonl_warnings.front();
  EXPECT_TRUE(otlp_warnings.empty()) << otlp_warnings.front();
  ASSERT_EQ(from_jsonl.steps.size(), 6u);
  ASSERT_EQ(from_jsonl.requests.size(), 3u);
  EXPECT_EQ(beta_csv(from_otlp), beta_csv(from_jsonl));
  EXPECT_EQ(alpha_csv(from_otlp), alpha_csv(from_jsonl));
  for (std::size_t i = 0; i < from_jsonl.requests.size(); ++i) {
    const RequestRow& j = from_jsonl.requests[i];
    const RequestRow& o = from_otlp.requests[i];
    EXPECT_EQ(o.request_id, j.request_id);
    // The hops' timestamps, which the CSV does not show.
    EXPECT_EQ(o.handoff_ns, j.handoff_ns) << j.request_id;
    EXPECT_EQ(o.first_token_ns, j.first_token_ns) << j.request_id;
    EXPECT_EQ(o.first_response_ns, j.first_response_ns) << j.request_id;
    EXPECT_EQ(o.finished_ns, j.finished_ns) << j.request_id;
    EXPECT_EQ(o.departed_ns, j.departed_ns) << j.request_id;
    EXPECT_EQ(o.core_busy, j.core_busy) << j.request_id;
  }
  // The multi-prompt join reached the API events through OTLP too.
  EXPECT_EQ(from_otlp.requests[1].request_id, "cmpl-c-0");
  EXPECT_DOUBLE_EQ(*from_otlp.requests[1].api_to_core_us(), 320);
  EXPECT_EQ(from_otlp.stats.step_events, from_jsonl.stats.step_events);
  EXPECT_EQ(from_otlp.stats.journey_events, from_jsonl.stats.journey_events);
  EXPECT_EQ(from_otlp.stats.ignored_events, from_jsonl.stats.ignored_events);  // the snapshot
  EXPECT_EQ(from_otlp.stats.ignored_events, 1u);
  EXPECT_EQ(from_otlp.stats.otlp_lines, 2u);
  EXPECT_EQ(from_otlp.stats.lines, 2u);
  EXPECT_EQ(from_jsonl.stats.otlp_lines, 0u);
  EXPECT_EQ(from_otlp.steps[4].flag, kFlagPreempted);
}

TEST(FitOtlpReader, DecodesTypedValuesAndFillsFromTheSpan) {
  const auto body = nlohmann::json::parse(R"({"resourceSpans": [{"scopeSpans": [{"spans": [
    {"name": "llm_core",
     "attributes": [{"key": "gen_ai.request.id", "value": {"stringValue": "cmpl-9-0"}}],
     "events": [{"timeUnixNano": "1795475209000000123", "name": "journey.QUEUED",
                 "attributes": [
                   {"key": "ts.monotonic_ns", "value": {"intValue": "123"}},
                   {"key": "scheduler.step", "value": {"intValue": 4}},
                   {"key": "ratio", "value": {"doubleValue": 0.25}},
                   {"key": "inf", "value": {"doubleValue": "Infinity"}},
                   {"key": "ok", "value": {"boolValue": true}},
                   {"key": "list", "value": {"arrayValue": {"values": [{"intValue": "7"}]}}},
                   {"key": "empty", "value": {}},
                   {"key": "event.type", "value": {"stringValue": "not the name"}}]}]}]}]}]})");
  ASSERT_TRUE(is_otlp_export(body));
  EXPECT_FALSE(is_otlp_export(nlohmann::json{{"event.type", "journey.QUEUED"}}));
  const auto records = otlp_records(body);
  ASSERT_TRUE(records) << records.error().message;
  ASSERT_EQ(records->events.size(), 1u);
  EXPECT_TRUE(records->malformed.empty());
  const nlohmann::json& e = records->events[0].event;
  EXPECT_EQ(e["event.type"], "journey.QUEUED");      // the name wins
  EXPECT_EQ(e["request.id"], "cmpl-9-0");            // from the span's gen_ai.request.id
  EXPECT_EQ(e["ts.epoch_ns"], 1795475209000000123);  // from timeUnixNano
  EXPECT_TRUE(e["ts.monotonic_ns"].is_number_integer());
  EXPECT_EQ(e["ts.monotonic_ns"], 123);
  EXPECT_EQ(e["scheduler.step"], 4);
  EXPECT_EQ(e["ratio"], 0.25);
  EXPECT_TRUE(std::isinf(e["inf"].get<double>()));
  EXPECT_EQ(e["ok"], true);
  EXPECT_EQ(e["list"], nlohmann::json::array({7}));
  EXPECT_TRUE(e["empty"].is_null());
  EXPECT_EQ(records->events[0].where, "OTLP span llm_core event 0 (journey.QUEUED)");
}

TEST(FitOtlpReader, MalformedExportsAndEventsAreCountedAndSkipped) {
  const std::string summary =
      R"({"name": "step.BATCH_SUMMARY", "timeUnixNano": "5", "attributes": [)"
      R"({"key": "step.id", "value": {"intValue": "2"}},)"
      R"({"key": "step.ts_start_ns", "value": {"intValue": "1000"}},)"
      R"({"key": "step.ts_end_ns", "value": {"intValue": "2000"}},)"
      R"({"key": "step.duration_us", "value": {"intValue": "1"}},)"
      R"({"key": "batch.prefill_tokens", "value": {"intValue": "0"}},)"
      R"({"key": "batch.decode_tokens", "value": {"intValue": "1"}},)"
      R"({"key": "batch.decode_ctx_tokens_sum", "value": {"intValue": "9"}},)"
      R"({"key": "batch.prefill_ctx_tokens_sum", "value": {"intValue": "0"}},)"
      R"({"key": "batch.num_prefill_reqs", "value": {"intValue": "0"}},)"
      R"({"key": "batch.num_decode_reqs", "value": {"intValue": "1"}},)"
      R"({"key": "batch.num_preempted", "value": {"intValue": "0"}},)"
      R"({"key": "queue.running_depth", "value": {"intValue": "1"}},)"
      R"({"key": "queue.waiting_depth", "value": {"intValue": "0"}},)"
      R"({"key": "kv.usage_gpu_ratio", "value": {"doubleValue": 0.5}}]})";
  const auto in_span = [](const std::string& events) {
    return R"({"resourceSpans": [{"scopeSpans": [{"scope": {"name": "vllm.scheduler.step"},)"
           R"( "spans": [{"name": "scheduler_steps", "events": [)" +
           events + "]}]}]}]}";
  };
  const std::string text =
      // 1: one good summary beside an event whose intValue is not a number
      in_span(summary + R"(, {"name": "step.BATCH_SUMMARY", "attributes": [)"
                        R"({"key": "step.id", "value": {"intValue": "x2"}}]})") +
      "\n" +
      // 2: the export's structure is broken: nothing in it can be placed
      R"({"resourceSpans": 5})"
      "\n" +
      // 3: a journey event without the monotonic time fit joins on
      in_span(R"({"name": "journey.QUEUED", "timeUnixNano": "17", "attributes": [)"
              R"({"key": "request.id", "value": {"stringValue": "r"}},)"
              R"({"key": "scheduler.step", "value": {"intValue": "1"}},)"
              R"({"key": "prefill.total_tokens", "value": {"intValue": "3"}}]})") +
      "\n" +
      // 4: cut off mid-line, as a collector killed while writing leaves it
      R"({"resourceSpans": [{"scopeSpans": [)"
      "\n" +
      // 5: an event with no name, and one with an AnyValue of no known kind
      in_span(R"({"attributes": []}, {"name": "api.ARRIVED", "attributes": [)"
              R"({"key": "request.id", "value": {"mystery": 1}}]})") +
      "\n";
  std::vector<std::string> warnings;
  std::vector<std::size_t> bad_lines;
  const Dataset d = read_text(text, &warnings, &bad_lines);
  EXPECT_EQ(d.stats.lines, 5u);
  EXPECT_EQ(d.stats.otlp_lines, 4u);  // line 4 is not JSON at all
  EXPECT_EQ(d.stats.malformed, 6u);
  EXPECT_EQ(bad_lines, (std::vector<std::size_t>{1, 2, 3, 4, 5, 5}));
  ASSERT_EQ(warnings.size(), 6u);
  EXPECT_NE(warnings[0].find("span scheduler_steps event 1"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find("intValue"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[1].find("resourceSpans"), std::string::npos) << warnings[1];
  EXPECT_NE(warnings[2].find("'ts.monotonic_ns'"), std::string::npos) << warnings[2];
  EXPECT_NE(warnings[2].find("timeUnixNano"), std::string::npos) << warnings[2];
  EXPECT_EQ(warnings[3], "not a JSON object");
  EXPECT_NE(warnings[4].find("no event name"), std::string::npos) << warnings[4];
  EXPECT_NE(warnings[5].find("attribute 'request.id'"), std::string::npos) << warnings[5];
  // The good summary of line 1 survived its neighbour.
  ASSERT_EQ(d.steps.size(), 1u);
  EXPECT_EQ(d.steps[0].step_id, 2);
  EXPECT_EQ(d.steps[0].kv_usage, 0.5);
  EXPECT_EQ(d.stats.step_events, 1u);
  EXPECT_EQ(d.stats.span_events, 2u);  // the summary and line 3's QUEUED
}

}  // namespace
}  // namespace waypoint::fit
