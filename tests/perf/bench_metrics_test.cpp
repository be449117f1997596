// The arithmetic of `waypoint bench` against hand-computed examples, with
// vLLM's benchmark_serving definitions.
#include "perf/bench_metrics.hpp"

#include <gtest/gtest.h>

namespace waypoint::bench {
namespace {

RequestRecord ok(int64_t prompt, int64_t output, double ttft, double latency,
                 std::vector<double> itl) {
  RequestRecord r;
  r.success = true;
  r.prompt_len = prompt;
  r.output_tokens = output;
  r.ttft = ttft;
  r.latency = latency;
  r.itl = std::move(itl);
  return r;
}

TEST(BenchMetrics, PercentileInterpolatesLinearlyAsNumpy) {
  // np.percentile([1, 2, 3, 4], p): rank p/100 * 3.
  const std::vector<double> v = {4, 1, 3, 2};
  EXPECT_DOUBLE_EQ(percentile(v, 0), 1);
  EXPECT_DOUBLE_EQ(percentile(v, 50), 2.5);
  EXPECT_DOUBLE_EQ(percentile(v, 90), 3.7);
  EXPECT_DOUBLE_EQ(percentile(v, 99), 3.97);
  EXPECT_DOUBLE_EQ(percentile(v, 100), 4);
  EXPECT_DOUBLE_EQ(percentile({5}, 99), 5);
  EXPECT_DOUBLE_EQ(percentile({}, 99), 0);  // np.percentile(x or 0, p)
}

TEST(BenchMetrics, TpotExcludesTheFirstTokenAndItlPoolsTheGaps) {
  const std::vector<RequestRecord> records = {
      // 5 tokens: TPOT = (0.5 - 0.1) / 4 = 0.1
      ok(10, 5, 0.1, 0.5, {0.1, 0.1, 0.1, 0.1}),
      // 3 tokens: TPOT = (0.7 - 0.3) / 2 = 0.2
      ok(20, 3, 0.3, 0.7, {0.15, 0.25}),
      // 1 token: no TPOT, no ITL
      ok(30, 1, 0.2, 0.2, {}),
  };
  const Summary s = summarize(records, 2.0, {}, {90, 99});
  EXPECT_EQ(s.completed, 3);
  EXPECT_EQ(s.failed, 0);
  EXPECT_EQ(s.total_input, 60);
  EXPECT_EQ(s.total_output, 9);
  ASSERT_EQ(s.tpots.size(), 2u);
  EXPECT_DOUBLE_EQ(s.tpots[0], 0.1);
  EXPECT_DOUBLE_EQ(s.tpots[1], 0.2);
  EXPECT_NEAR(s.tpot.mean, 150, 1e-9);
  EXPECT_NEAR(s.tpot.median, 150, 1e-9);
  EXPECT_NEAR(s.tpot.std, 50, 1e-9);
  EXPECT_NEAR(s.tpot.percentiles[0].second, 190, 1e-9);
  // ITL: the six gaps pooled, sorted 0.1 0.1 0.1 0.1 0.15 0.25.
  ASSERT_EQ(s.itls.size(), 6u);
  EXPECT_NEAR(s.itl.mean, 800.0 / 6, 1e-9);
  EXPECT_NEAR(s.itl.median, 100, 1e-9);
  EXPECT_NEAR(s.itl.percentiles[0].second, 200, 1e-9);  // rank 4.5: 0.15..0.25
  // TTFT 0.1 0.2 0.3; E2EL 0.2 0.5 0.7.
  EXPECT_NEAR(s.ttft.mean, 200, 1e-9);
  EXPECT_NEAR(s.ttft.percentiles[1].second, 298, 1e-9);
  EXPECT_NEAR(s.e2el.median, 500, 1e-9);
  EXPECT_NEAR(s.e2el.mean, 1400.0 / 3, 1e-9);
  // Throughputs over the 2 s run.
  EXPECT_DOUBLE_EQ(s.request_throughput, 1.5);
  EXPECT_DOUBLE_EQ(s.output_throughput, 4.5);
  EXPECT_DOUBLE_EQ(s.total_token_throughput, 34.5);
}

TEST(BenchMetrics, FailedRequestsCountZeroOutputAndStayOutOfTheDistributions) {
  RequestRecord failed;
  failed.prompt_len = 100;
  failed.error = "HTTP 400: too long";
  const Summary s = summarize({ok(10, 2, 0.1, 0.3, {0.2}), failed}, 1.0, {}, {99});
  EXPECT_EQ(s.completed, 1);
  EXPECT_EQ(s.failed, 1);
  EXPECT_EQ(s.total_input, 10);  // a failed prompt is not counted, as vLLM
  EXPECT_EQ(s.output_lens, (std::vector<int64_t>{2, 0}));
  EXPECT_EQ(s.ttfts.size(), 1u);
}

TEST(BenchMetrics, GoodputCountsRequestsMeetingEverySlo) {
  // Binary-exact times, so "meets the SLO exactly" is exact.
  const std::vector<RequestRecord> records = {
      ok(1, 5, 0.125, 0.625, {}),  // ttft 125 ms, tpot 125 ms, e2el 625 ms
      ok(1, 5, 0.25, 0.75, {}),    // ttft 250 ms
      ok(1, 3, 0.125, 1.0, {}),    // tpot 437.5 ms
      ok(1, 1, 0.125, 0.125, {}),  // one token: TPOT counts as 0
  };
  auto slo = parse_goodput({"ttft:200", "tpot:125"});
  ASSERT_TRUE(slo);
  const Summary s = summarize(records, 2.0, *slo, {99});
  EXPECT_EQ(s.good_completed, 2);  // the first (SLO met exactly) and the last
  EXPECT_DOUBLE_EQ(s.request_goodput, 1.0);

  auto e2el = parse_goodput({"e2el:700"});
  ASSERT_TRUE(e2el);
  EXPECT_EQ(summarize(records, 1.0, *e2el, {}).good_completed, 2);
  EXPECT_EQ(summarize(records, 1.0, {}, {}).good_completed, 0);  // no SLO: no goodput
}

TEST(BenchMetrics, GoodputParsingNamesWhatIsWrong) {
  EXPECT_FALSE(parse_goodput({"ttft"}));
  EXPECT_FALSE(parse_goodput({"latency:5"}));
  EXPECT_FALSE(parse_goodput({"ttft:abc"}));
  EXPECT_FALSE(parse_goodput({"ttft:-1"}));
  auto slo = parse_goodput({"ttft:1.5", "e2el:3000"});
  ASSERT_TRUE(slo);
  EXPECT_DOUBLE_EQ(*slo->ttft_ms, 1.5);
  EXPECT_FALSE(slo->tpot_ms);
  EXPECT_DOUBLE_EQ(*slo->e2el_ms, 3000);
}

TEST(BenchMetrics, EmptyRunReportsZeros) {
  const Summary s = summarize({}, 0, {}, {99});
  EXPECT_EQ(s.completed, 0);
  EXPECT_EQ(s.ttft.mean, 0);
  EXPECT_EQ(s.ttft.percentiles[0].second, 0);
}

TEST(BenchMetrics, PercentileKeysFollowVllm) {
  EXPECT_EQ(percentile_key(99), "99");
  EXPECT_EQ(percentile_key(99.9), "99.9");
}

TEST(BenchMetrics, CumulativeBucketsLikePrometheus) {
  EXPECT_EQ(cumulative_buckets({0.05, 0.1, 0.2, 5}, {0.1, 1.0}), (std::vector<int64_t>{2, 3, 4}));
}

}  // namespace
}  // namespace waypoint::bench
