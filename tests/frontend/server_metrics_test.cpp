// The Prometheus side of the frontend without a server: the definitions,
// one request's timeline into vLLM's numbers, a stream deciding which tokens
// count, the snapshot wire format, and the aggregated exposition as promtool
// and a parser read it.
#include <memory>
#include <string>
#include <tuple>

#include <gtest/gtest.h>
#include <prometheus/check_names.h>

#include "frontend/metrics_snapshot.hpp"
#include "frontend/request_metrics.hpp"
#include "frontend/request_stream.hpp"
#include "frontend/request_tracker.hpp"
#include "frontend/server_metrics.hpp"
#include "proto/codec.hpp"
#include "telemetry/metric_definitions.hpp"
#include "tests/frontend/exposition.hpp"
#include "tests/frontend/promtool.hpp"

namespace waypoint {
namespace {

using metrics::RequestHistogram;
using testing::find_sample;
using testing::parse_exposition;

const HistogramCounts& histogram(const RequestMetricsSnapshot& s, RequestHistogram h) {
  return s.histograms[static_cast<size_t>(h)];
}

uint64_t success(const RequestMetricsSnapshot& s, FinishReason r) {
  return s.success[static_cast<size_t>(r)];
}

EngineCoreOutput tokens(std::vector<TokenId> ids, std::vector<EngineCoreEvent> events = {},
                        std::optional<FinishReason> finish = std::nullopt) {
  EngineCoreOutput out;
  out.request_id = "r";
  out.new_token_ids = std::move(ids);
  out.events = std::move(events);
  out.finish_reason = finish;
  return out;
}

TEST(MetricDefinitions, OneTwoFiveBucketsStopAtTheLimitLikeVllm) {
  EXPECT_EQ(metrics::build_1_2_5_buckets(100), (std::vector<double>{1, 2, 5, 10, 20, 50, 100}));
  EXPECT_EQ(metrics::build_1_2_5_buckets(2048),
            (std::vector<double>{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000}));
  EXPECT_EQ(metrics::build_1_2_5_buckets(1), (std::vector<double>{1}));
  EXPECT_TRUE(metrics::build_1_2_5_buckets(0).empty());
}

TEST(MetricDefinitions, NamesAreValidAndEveryBucketListRises) {
  for (const auto& h : metrics::kRequestHistograms) {
    EXPECT_TRUE(prometheus::CheckMetricName(std::string(h.metric.name))) << h.metric.name;
    EXPECT_FALSE(h.metric.help.empty());
    const auto bounds = metrics::bucket_bounds(h.buckets, 4096);
    ASSERT_FALSE(bounds.empty()) << h.metric.name;
    for (size_t i = 1; i < bounds.size(); ++i) EXPECT_LT(bounds[i - 1], bounds[i]) << h.metric.name;
  }
  for (const auto& m :
       {metrics::kPromptTokens, metrics::kGenerationTokens, metrics::kRequestSuccess,
        metrics::kNumPreemptions, metrics::kPrefixCacheQueries, metrics::kPrefixCacheHits,
        metrics::kEventsDropped, metrics::kOtlpSpansDropped}) {
    EXPECT_TRUE(prometheus::CheckMetricName(std::string(m.name))) << m.name;
    EXPECT_TRUE(m.name.ends_with("_total")) << m.name << " is a counter";
  }
  EXPECT_EQ(metrics::kTimeToFirstTokenBuckets.front(), 0.001);
  EXPECT_EQ(metrics::kTimeToFirstTokenBuckets.back(), 2560.0);
  EXPECT_EQ(metrics::kRequestLatencyBuckets.back(), 7680.0);
  EXPECT_EQ(metrics::kInterTokenLatencyBuckets.back(), 80.0);
}

TEST(HistogramCounts, AValueOnABoundCountsInThatBucket) {
  const std::vector<double> bounds{1, 2, 5};
  auto h = HistogramCounts::for_bounds(bounds);
  for (double v : {0.5, 1.0, 1.5, 5.0, 7.0}) h.observe(bounds, v);
  EXPECT_EQ(h.counts, (std::vector<uint64_t>{2, 1, 1, 1}));
  EXPECT_EQ(h.count(), 5u);
  EXPECT_EQ(h.sum, 15.0);
  auto other = HistogramCounts::for_bounds({1, 2});
  EXPECT_FALSE(h.add(other));
  EXPECT_EQ(h.count(), 5u);
}

// Times are binary fractions, so every sum below is exact.
TEST(RequestTracker, VllmDefinitionsOfEveryInterval) {
  auto sink = std::make_shared<RequestMetrics>(1024);
  RequestTracker t(sink, 7, 16, /*arrival=*/100.0);
  t.events({{EngineCoreEventType::QUEUED, 100.5}, {EngineCoreEventType::SCHEDULED, 101.0}});
  t.received(1, 101.25);
  t.received(1, 101.5);
  t.received(1, 102.0);
  t.keep(3);
  t.finish(FinishReason::LENGTH, 103.0);
  t.finish(FinishReason::ABORT, 104.0);  // a second verdict changes nothing

  const auto s = sink->snapshot();
  EXPECT_EQ(s.prompt_tokens, 7u);
  EXPECT_EQ(s.generation_tokens, 3u);
  EXPECT_EQ(success(s, FinishReason::LENGTH), 1u);
  EXPECT_EQ(success(s, FinishReason::ABORT), 0u);
  auto sum = [&](RequestHistogram h) { return histogram(s, h).sum; };
  auto count = [&](RequestHistogram h) { return histogram(s, h).count(); };
  EXPECT_EQ(sum(RequestHistogram::kTimeToFirstToken), 1.25);
  EXPECT_EQ(count(RequestHistogram::kInterTokenLatency), 2u);
  EXPECT_EQ(sum(RequestHistogram::kInterTokenLatency), 0.75);
  EXPECT_EQ(sum(RequestHistogram::kE2eRequestLatency), 3.0);
  EXPECT_EQ(sum(RequestHistogram::kQueueTime), 0.5);
  EXPECT_EQ(sum(RequestHistogram::kPrefillTime), 0.25);
  EXPECT_EQ(sum(RequestHistogram::kDecodeTime), 0.75);
  EXPECT_EQ(sum(RequestHistogram::kInferenceTime), 1.0);
  EXPECT_EQ(sum(RequestHistogram::kTimePerOutputToken), 0.375);
  EXPECT_EQ(sum(RequestHistogram::kPromptTokens), 7.0);
  EXPECT_EQ(sum(RequestHistogram::kGenerationTokens), 3.0);
  EXPECT_EQ(sum(RequestHistogram::kMaxTokensParam), 16.0);
  // 1.25 s lands in TTFT's (1.0, 2.5] bucket.
  const auto& ttft = histogram(s, RequestHistogram::kTimeToFirstToken).counts;
  EXPECT_EQ(ttft[12], 1u);
}

TEST(RequestTracker, TokensOfOneBatchShareOneGapAndPreemptionKeepsTheFirstSchedule) {
  auto sink = std::make_shared<RequestMetrics>(1024);
  RequestTracker t(sink, 4, 8, 10.0);
  t.events({{EngineCoreEventType::QUEUED, 10.0}, {EngineCoreEventType::SCHEDULED, 10.5}});
  t.received(2, 11.0);
  t.events({{EngineCoreEventType::PREEMPTED, 11.25}, {EngineCoreEventType::SCHEDULED, 11.5}});
  t.received(2, 12.0);
  t.keep(4);
  t.finish(FinishReason::STOP, 12.0);
  const auto s = sink->snapshot();
  EXPECT_EQ(histogram(s, RequestHistogram::kInterTokenLatency).count(), 1u);
  EXPECT_EQ(histogram(s, RequestHistogram::kInterTokenLatency).sum, 1.0);
  EXPECT_EQ(histogram(s, RequestHistogram::kPrefillTime).sum, 0.5);
  EXPECT_EQ(histogram(s, RequestHistogram::kQueueTime).sum, 0.5);
}

TEST(RequestTracker, AbortedWhileQueuedObservesOnlyWhatHappened) {
  auto sink = std::make_shared<RequestMetrics>(1024);
  {
    RequestTracker t(sink, 5, 8, 1.0);
    t.finish(FinishReason::ABORT, 1.5);
  }
  const auto s = sink->snapshot();
  EXPECT_EQ(s.prompt_tokens, 0u);  // vLLM counts a prompt once it is prefilled
  EXPECT_EQ(success(s, FinishReason::ABORT), 1u);
  EXPECT_EQ(histogram(s, RequestHistogram::kE2eRequestLatency).sum, 0.5);
  EXPECT_EQ(histogram(s, RequestHistogram::kTimeToFirstToken).count(), 0u);
  EXPECT_EQ(histogram(s, RequestHistogram::kQueueTime).count(), 0u);
  EXPECT_EQ(histogram(s, RequestHistogram::kDecodeTime).count(), 0u);
  EXPECT_EQ(histogram(s, RequestHistogram::kPromptTokens).count(), 1u);
}

struct TrackedStream {
  std::shared_ptr<RequestMetrics> sink = std::make_shared<RequestMetrics>(1024);
  std::shared_ptr<RequestStream> stream =
      std::make_shared<RequestStream>(std::make_shared<Waker>());
  TrackedStream() { stream->track(RequestTracker(sink, 3, 10, monotonic_now())); }
};

TEST(RequestStream, AStopStringCountsOnlyTheTokensTheResponseKept) {
  TrackedStream t;
  // The engine ran ahead: three batches arrive before the reader wakes.
  t.stream->push(tokens({1}), monotonic_now());
  t.stream->push(tokens({2}), monotonic_now());
  t.stream->push(tokens({3}), monotonic_now());
  RequestStream::Update u;
  t.stream->take(u);
  ASSERT_EQ(u.token_ids.size(), 3u);
  EXPECT_EQ(t.sink->snapshot().generation_tokens, 1u);  // only the first is sure yet
  // The stop string ended in the second token.
  t.stream->finish(FinishReason::STOP, 2);
  t.stream->push(tokens({4}), monotonic_now());  // crossed the abort on the wire
  t.stream.reset();
  const auto s = t.sink->snapshot();
  EXPECT_EQ(s.generation_tokens, 2u);
  EXPECT_EQ(success(s, FinishReason::STOP), 1u);
  EXPECT_EQ(success(s, FinishReason::LENGTH) + success(s, FinishReason::ABORT), 0u);
}

TEST(RequestStream, AStopStringInTheEnginesLastTokensStillCountsAsStop) {
  TrackedStream t;
  t.stream->push(tokens({1, 2}, {}, FinishReason::LENGTH), monotonic_now());
  RequestStream::Update u;
  t.stream->take(u);
  t.stream->finish(FinishReason::STOP, 1);
  t.stream.reset();
  const auto s = t.sink->snapshot();
  EXPECT_EQ(success(s, FinishReason::STOP), 1u);
  EXPECT_EQ(success(s, FinishReason::LENGTH), 0u);
  EXPECT_EQ(s.generation_tokens, 1u);
}

TEST(RequestStream, TheEnginesFinishIsCountedWhenTheLastOwnerLetsGo) {
  TrackedStream t;
  RequestStream::Update u;
  t.stream->push(tokens({1}), monotonic_now());
  t.stream->take(u);
  t.stream->push(tokens({2}), monotonic_now());
  t.stream->take(u);
  t.stream->push(tokens({3}, {}, FinishReason::LENGTH), monotonic_now());
  t.stream->take(u);
  EXPECT_EQ(t.sink->snapshot().generation_tokens, 3u);  // counted as they are read
  EXPECT_EQ(success(t.sink->snapshot(), FinishReason::LENGTH), 0u);
  t.stream.reset();
  EXPECT_EQ(success(t.sink->snapshot(), FinishReason::LENGTH), 1u);
  EXPECT_EQ(t.sink->snapshot().generation_tokens, 3u);
}

TEST(RequestStream, AnAbandonedOrFailedRequestCountsOnce) {
  TrackedStream abandoned;
  abandoned.stream.reset();
  EXPECT_EQ(success(abandoned.sink->snapshot(), FinishReason::ABORT), 1u);

  TrackedStream failed;
  failed.stream->push(tokens({1}), monotonic_now());
  failed.stream->fail("engine gone");
  RequestStream::Update u;
  failed.stream->take(u);  // the reader stops at the error, before the token
  failed.stream->finish(FinishReason::ERROR, 0);
  failed.stream.reset();
  const auto s = failed.sink->snapshot();
  EXPECT_EQ(success(s, FinishReason::ERROR), 1u);
  EXPECT_EQ(s.generation_tokens, 0u);

  TrackedStream never_sent;
  never_sent.stream->untrack();
  never_sent.stream.reset();
  const auto n = never_sent.sink->snapshot();
  EXPECT_EQ(n.success, (std::vector<uint64_t>{0, 0, 0, 0}));
}

TEST(MetricsSnapshot, RoundTripsAndReadsAnOlderShorterArray) {
  ServerMetrics m("tiny", 0, 1, 256);
  SchedulerStats stats;
  stats.scheduler_step = 12;
  stats.num_running_reqs = 2;
  m.observe(stats);
  m.observe_frontend(3, 4, 5);
  RequestTracker t(m.requests(), 3, 4, 0.0);
  t.received(1, 0.5);
  t.keep(1);
  t.finish(FinishReason::STOP, 1.0);
  const FrontendMetricsSnapshot s = m.snapshot();
  auto decoded = decode<FrontendMetricsSnapshot>(encode(s));
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(*decoded, s);

  // A peer from before spans_dropped existed.
  auto older = decode<FrontendMetricsSnapshot>(encode(
      std::make_tuple(s.client_index, s.requests, s.engine, s.api_live_states, s.events_dropped)));
  ASSERT_TRUE(older) << older.error().message;
  EXPECT_EQ(older->events_dropped, 4u);
  EXPECT_EQ(older->spans_dropped, 0u);
  EXPECT_FALSE(decode<FrontendMetricsSnapshot>("\xc1"));
}

// Two frontends' worth of traffic; the scraped one speaks for both.
TEST(ServerMetrics, TheScrapedFrontendSumsItsPeersAndTakesTheFreshestEngineStats) {
  ServerMetrics a("tiny", 0, 0, 256);
  ServerMetrics b("tiny", 0, 1, 256);
  auto finish_one = [](ServerMetrics& m, int32_t prompt, int generated, FinishReason reason) {
    RequestTracker t(m.requests(), prompt, 16, 0.0);
    for (int i = 0; i < generated; ++i) t.received(1, 0.25 * (i + 1));
    t.keep(static_cast<size_t>(generated));
    t.finish(reason, 2.0);
  };
  finish_one(a, 5, 3, FinishReason::LENGTH);
  finish_one(b, 7, 4, FinishReason::STOP);
  finish_one(b, 2, 1, FinishReason::ABORT);
  SchedulerStats old_stats;
  old_stats.scheduler_step = 10;
  old_stats.num_running_reqs = 3;
  old_stats.num_preemptions = 1;
  a.observe(old_stats);
  SchedulerStats fresh = old_stats;
  fresh.scheduler_step = 20;
  fresh.num_running_reqs = 0;
  fresh.num_preemptions = 2;
  fresh.prefix_cache_queries = 64;
  fresh.prefix_cache_hits = 32;
  b.observe(fresh);
  a.observe_frontend(0, 1, 2);
  b.observe_frontend(0, 3, 4);

  const std::string text = a.render({b.snapshot()});
  const auto samples = parse_exposition(text);
  auto value = [&](const std::string& name, std::map<std::string, std::string> labels = {}) {
    labels.emplace("model_name", "tiny");
    labels.emplace("engine", "0");
    auto v = find_sample(samples, name, labels);
    EXPECT_TRUE(v) << name << " missing from\n" << text;
    return v.value_or(-1);
  };
  EXPECT_EQ(value("vllm:prompt_tokens_total"), 14);
  EXPECT_EQ(value("vllm:generation_tokens_total"), 8);
  EXPECT_EQ(value("vllm:request_success_total", {{"finished_reason", "length"}}), 1);
  EXPECT_EQ(value("vllm:request_success_total", {{"finished_reason", "stop"}}), 1);
  EXPECT_EQ(value("vllm:request_success_total", {{"finished_reason", "abort"}}), 1);
  EXPECT_EQ(value("vllm:request_success_total", {{"finished_reason", "error"}}), 0);
  EXPECT_EQ(value("vllm:e2e_request_latency_seconds_count"), 3);
  EXPECT_EQ(value("vllm:e2e_request_latency_seconds_sum"), 6);
  EXPECT_EQ(value("vllm:request_prompt_tokens_bucket", {{"le", "5"}}), 2);
  EXPECT_EQ(value("vllm:request_prompt_tokens_bucket", {{"le", "+Inf"}}), 3);
  EXPECT_EQ(value("vllm:inter_token_latency_seconds_count"), 2 + 3);
  EXPECT_EQ(value("vllm:num_requests_running"), 0);
  EXPECT_EQ(value("vllm:num_preemptions_total"), 2);
  EXPECT_EQ(value("vllm:prefix_cache_queries_total"), 64);
  EXPECT_EQ(value("vllm:prefix_cache_hits_total"), 32);
  EXPECT_EQ(value("waypoint:scheduler_step"), 20);
  EXPECT_EQ(value("waypoint:events_dropped_total", {{"producer", "frontend-0"}}), 1);
  EXPECT_EQ(value("waypoint:events_dropped_total", {{"producer", "frontend-1"}}), 3);
  EXPECT_EQ(value("waypoint:otlp_spans_dropped_total", {{"producer", "frontend-1"}}), 4);
  EXPECT_EQ(value("waypoint:otlp_spans_dropped_total", {{"producer", "engine-0"}}), 0);

  // The peer goes quiet: the engine counters do not fall back to a's older stats.
  const auto alone = parse_exposition(a.render());
  EXPECT_EQ(find_sample(alone, "vllm:num_preemptions_total"), 2);
  EXPECT_EQ(find_sample(alone, "waypoint:scheduler_step"), 20);
  EXPECT_EQ(find_sample(alone, "vllm:prompt_tokens_total"), 5);

  // A peer of another shape (another max_model_len) is left out, not mixed in.
  ServerMetrics odd("tiny", 0, 2, 100000);
  finish_one(odd, 9, 9, FinishReason::STOP);
  EXPECT_EQ(find_sample(parse_exposition(a.render({odd.snapshot()})), "vllm:prompt_tokens_total"),
            5);
}

// After an abort, or when it goes idle, the engine sends stats that carry the
// step they follow: the gauges must take them, or a finished request would
// read as running until the next step.
TEST(ServerMetrics, TheEnginesLaterWordFromTheSameStepWins) {
  ServerMetrics m("tiny", 0, 0, 256);
  SchedulerStats during;
  during.scheduler_step = 7;
  during.num_running_reqs = 1;
  m.observe(during);
  EXPECT_EQ(find_sample(parse_exposition(m.render()), "vllm:num_requests_running"), 1);
  SchedulerStats after = during;
  after.num_running_reqs = 0;
  m.observe(after);
  EXPECT_EQ(find_sample(parse_exposition(m.render()), "vllm:num_requests_running"), 0);
  SchedulerStats older = during;
  older.scheduler_step = 6;
  m.observe(older);  // out of order: never goes back
  EXPECT_EQ(find_sample(parse_exposition(m.render()), "vllm:num_requests_running"), 0);
}

TEST(ServerMetrics, ExpositionPassesPromtool) {
  const auto promtool = testing::promtool_path();
  if (!promtool) GTEST_SKIP() << "promtool is not installed (scripts/setup installs prometheus)";
  ServerMetrics m("tiny", 0, 0, 2048);
  RequestTracker t(m.requests(), 5, 16, 0.0);
  t.events({{EngineCoreEventType::QUEUED, 0.1}, {EngineCoreEventType::SCHEDULED, 0.2}});
  t.received(1, 0.3);
  t.received(1, 0.4);
  t.keep(2);
  t.finish(FinishReason::STOP, 0.5);
  m.observe(SchedulerStats{});
  const auto verdict = testing::promtool_check(*promtool, m.render());
  EXPECT_TRUE(testing::promtool_passes(verdict)) << "exit " << verdict.exit_code << "\n"
                                                 << verdict.output;
}

// The check is not vacuous: a real problem (a counter without _total) fails it.
TEST(ServerMetrics, PromtoolCheckCatchesARealProblem) {
  const auto promtool = testing::promtool_path();
  if (!promtool) GTEST_SKIP() << "promtool is not installed (scripts/setup installs prometheus)";
  const auto verdict = testing::promtool_check(
      *promtool, "# HELP vllm:requests Requests.\n# TYPE vllm:requests counter\nvllm:requests 1\n");
  EXPECT_FALSE(testing::promtool_passes(verdict)) << verdict.output;
  EXPECT_FALSE(testing::promtool_passes(testing::promtool_check(*promtool, "not an exposition\n")));
}

}  // namespace
}  // namespace waypoint
