// The simulator's event loop against latencies worked out by hand: a
// constant step time, fixed hops, and a workload small enough to follow
// step by step. The scheduler is the real one; only time is modelled.
#include "perf/sim_engine.hpp"

#include <gtest/gtest.h>

namespace waypoint::sim {
namespace {

constexpr double kMs = 1e-3;

// Every step takes 1 ms whatever it holds; tokens reach the client 0.1 ms
// after their step, the last one 0.2 ms after.
PerfModel constant_model() {
  PerfModel m;
  m.beta.features = {"intercept"};
  m.beta.coefficients = {1000.0};
  m.first_response_us = 100;
  m.departure_us = 200;
  return m;
}

SimConfig small_config() {
  SimConfig c;
  c.scheduler.max_model_len = 128;
  c.scheduler.max_num_batched_tokens = 256;
  c.scheduler.block_size = 16;
  c.scheduler.num_blocks = 64;
  c.vocab_size = 100;
  return c;
}

bench::BenchRequest request(int64_t prompt_len, int64_t output_len) {
  bench::BenchRequest r;
  for (int64_t i = 0; i < prompt_len; ++i)
    r.prompt_token_ids.push_back(static_cast<int32_t>(i + 1));
  r.prompt_len = prompt_len;
  r.output_len = output_len;
  return r;
}

// A: sent at 0, 3 tokens. Steps 1-3 (0-3 ms) are its prefill and two
// decodes; its tokens end steps at 1, 2, 3 ms. B: sent at 2.5 ms, during
// step 3, so the core takes it at 3 ms; steps 4-5 (3-5 ms) give its 2 tokens.
TEST(SimEngine, ConstantStepTimeGivesHandComputedLatencies) {
  const SimOutcome out =
      simulate({request(4, 3), request(4, 2)}, {0.0, 2.5 * kMs}, constant_model(), small_config());
  ASSERT_EQ(out.records.size(), 2u);
  const bench::RequestRecord& a = out.records[0];
  ASSERT_TRUE(a.success) << a.error;
  EXPECT_EQ(a.output_tokens, 3);
  EXPECT_NEAR(a.ttft, 1.1 * kMs, 1e-9);     // 1 ms step + 0.1 ms
  EXPECT_NEAR(a.latency, 3.2 * kMs, 1e-9);  // token 3 at 3 ms + 0.2 ms
  ASSERT_EQ(a.itl.size(), 2u);
  EXPECT_NEAR(a.itl[0], 1.0 * kMs, 1e-9);
  EXPECT_NEAR(a.itl[1], 1.1 * kMs, 1e-9);

  const bench::RequestRecord& b = out.records[1];
  ASSERT_TRUE(b.success) << b.error;
  EXPECT_EQ(b.output_tokens, 2);
  EXPECT_NEAR(b.ttft, (4.1 - 2.5) * kMs, 1e-9);  // waits out step 3, then its prefill
  EXPECT_NEAR(b.latency, (5.2 - 2.5) * kMs, 1e-9);
  ASSERT_EQ(b.itl.size(), 1u);
  EXPECT_NEAR(b.itl[0], 1.1 * kMs, 1e-9);

  EXPECT_EQ(out.stats.steps, 5u);
  EXPECT_NEAR(out.stats.busy_s, 5 * kMs, 1e-9);
  EXPECT_NEAR(out.duration_s, 5.2 * kMs, 1e-9);  // first send to B's last chunk
  EXPECT_NEAR(out.stats.mean_queue_wait_ms, 0.0, 1e-9);

  // bench's arithmetic on top: TPOT excludes the first token.
  const bench::Summary s = bench::summarize(out.records, out.duration_s, {}, {90});
  EXPECT_NEAR(s.tpot.mean, ((3.2 - 1.1) / 2 + (2.7 - 1.6) / 1) / 2, 1e-6);
}

// Two requests at once share every step: one prefill step for both, then
// decodes together, so both see the same token times.
TEST(SimEngine, SimultaneousRequestsShareSteps) {
  const SimOutcome out =
      simulate({request(4, 2), request(8, 2)}, {0.0, 0.0}, constant_model(), small_config());
  EXPECT_EQ(out.stats.steps, 2u);
  for (const auto& r : out.records) {
    EXPECT_NEAR(r.ttft, 1.1 * kMs, 1e-9);
    EXPECT_NEAR(r.latency, 2.2 * kMs, 1e-9);
  }
}

// --max-concurrency 1: B, due at 2.5 ms, is sent when A's reply is complete
// (3.2 ms), and its latency counts from then, as bench measures it.
TEST(SimEngine, ConcurrencyCapDelaysTheSend) {
  SimConfig c = small_config();
  c.max_concurrency = 1;
  const SimOutcome out =
      simulate({request(4, 3), request(4, 2)}, {0.0, 2.5 * kMs}, constant_model(), c);
  const bench::RequestRecord& b = out.records[1];
  ASSERT_TRUE(b.success) << b.error;
  EXPECT_NEAR(b.ttft, 1.1 * kMs, 1e-9);  // the engine was idle when it arrived
  EXPECT_NEAR(b.latency, 2.2 * kMs, 1e-9);
  EXPECT_NEAR(out.duration_s, 5.4 * kMs, 1e-9);
}

// alpha's api_to_core delays the request's arrival at the core; the client
// hops add to every chunk.
TEST(SimEngine, ApiLatencyAndClientHopsAdd) {
  PerfModel m = constant_model();
  m.api_to_core =
      LinearModel{{"intercept", "prompt_tokens", "waiting_depth", "running_depth", "kv_usage"},
                  {500.0, 0.0, 0.0, 0.0, 0.0}};
  m.client_first_chunk_us = 50;
  m.client_last_chunk_us = 30;
  const SimOutcome out = simulate({request(4, 2)}, {0.0}, m, small_config());
  const bench::RequestRecord& r = out.records[0];
  ASSERT_TRUE(r.success) << r.error;
  EXPECT_NEAR(r.ttft, (0.5 + 1.0 + 0.1 + 0.05) * kMs, 1e-9);
  EXPECT_NEAR(r.latency, (0.5 + 2.0 + 0.2 + 0.03) * kMs, 1e-9);
  EXPECT_NEAR(out.stats.mean_api_ms, 0.5, 1e-9);
}

// The first chunk's client hop per request: 50 us + 1 us per prefill token of
// the step running when the request was sent + 2 us per prefill token of the
// step running when its first response leaves the core. A (4 tokens) is sent
// at 0, before any step; B (8 tokens) at 0.5 ms, during step 1, A's 4-token
// prefill. Step 2 (1-2 ms) holds A's decode and B's prefill: A's first
// response (1.1 ms) leaves during it. B's (2.1 ms) leaves during step 3, a
// decode-only step.
TEST(SimEngine, FirstChunkHopFollowsThePrefillsRunning) {
  PerfModel m = constant_model();
  m.client_first_chunk_us = 1000;  // the mean: only later chunks use it
  m.client_first_chunk =
      LinearModel{{"intercept", "arrival_step_prefill_tokens", "response_step_prefill_tokens"},
                  {50.0, 1.0, 2.0}};
  const SimOutcome out =
      simulate({request(4, 3), request(8, 2)}, {0.0, 0.5 * kMs}, m, small_config());
  const bench::RequestRecord& a = out.records[0];
  const bench::RequestRecord& b = out.records[1];
  ASSERT_TRUE(a.success) << a.error;
  ASSERT_TRUE(b.success) << b.error;
  EXPECT_NEAR(a.ttft, (1.0 + 0.1 + 0.050 + 0.016) * kMs, 1e-9);
  EXPECT_NEAR(b.ttft, (2.0 + 0.1 + 0.050 + 0.004 - 0.5) * kMs, 1e-9);
  EXPECT_NEAR(a.itl[0], (2.0 + 0.1 + 1.0 - 1.166) * kMs, 1e-9);  // chunk 2 takes the mean hop
}

// A request the scheduler refuses (longer than max_model_len) fails alone.
TEST(SimEngine, RefusedRequestFailsWithTheSchedulersReason) {
  const SimOutcome out =
      simulate({request(200, 2), request(4, 2)}, {0.0, 0.0}, constant_model(), small_config());
  EXPECT_FALSE(out.records[0].success);
  EXPECT_FALSE(out.records[0].error.empty());
  EXPECT_TRUE(out.records[1].success) << out.records[1].error;
}

}  // namespace
}  // namespace waypoint::sim
