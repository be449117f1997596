// The hops around the core, measured from a hand-written trace, and the
// client's share calibrated against bench results.
#include "perf/fit_hops.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace waypoint::fit {
namespace {

std::string step(int id, long start_ns, long end_ns, int gap_us, int running, int finished) {
  std::ostringstream s;
  s << R"({"event.type":"step.BATCH_SUMMARY","step.id":)" << id << R"(,"step.ts_start_ns":)"
    << start_ns << R"(,"step.ts_end_ns":)" << end_ns << R"(,"step.duration_us":)"
    << (end_ns - start_ns) / 1000 << R"(,"step.gap_us":)" << gap_us << R"(,"queue.running_depth":)"
    << running << R"(,"queue.waiting_depth":0,)"
    << R"("batch.num_prefill_reqs":0,"batch.num_decode_reqs":1,"batch.prefill_tokens":0,)"
    << R"("batch.decode_tokens":1,"batch.decode_ctx_tokens_sum":10,)"
    << R"("batch.prefill_ctx_tokens_sum":0,"batch.num_preempted":0,"batch.num_finished":)"
    << finished << R"(,"kv.usage_gpu_ratio":0.1})";
  return s.str();
}

std::string event(const std::string& type, const std::string& id, long ts_ns) {
  std::ostringstream s;
  s << R"({"event.type":")" << type << R"(","request.id":")" << id << R"(","ts.monotonic_ns":)"
    << ts_ns << R"(,"scheduler.step":5,"prefill.total_tokens":10})";
  return s.str();
}

// Request r1: handed off at 1.0 ms while step 3 (0.9-1.5 ms) runs, queued at
// 1.5 ms: core_busy. Request r2: handed off and queued while the core idles.
Dataset sample() {
  std::ostringstream t;
  t << step(1, 100'000, 400'000, 0, 1, 0) << "\n"
    << step(2, 450'000, 850'000, 50, 1, 0) << "\n"    // follows a step with work left: loop gap
    << step(3, 900'000, 1'500'000, 50, 1, 1) << "\n"  // r0 finishes here
    << step(4, 5'000'000, 5'400'000, 3500, 1, 0) << "\n";  // after idling: not a loop gap
  t << event("api.ARRIVED", "r1", 800'000) << "\n"
    << event("api.HANDOFF_TO_CORE", "r1", 1'000'000) << "\n"
    << event("journey.QUEUED", "r1-0", 1'500'000) << "\n"
    << event("journey.SCHEDULED", "r1-0", 1'600'000) << "\n"
    << event("journey.FIRST_TOKEN", "r1-0", 2'000'000) << "\n"
    << event("api.FIRST_RESPONSE_FROM_CORE", "r1", 2'300'000) << "\n"
    << event("journey.FINISHED", "r1-0", 3'000'000) << "\n"
    << event("api.DEPARTED", "r1", 3'500'000) << "\n";
  t << event("api.ARRIVED", "r2", 4'000'000) << "\n"
    << event("api.HANDOFF_TO_CORE", "r2", 4'200'000) << "\n"
    << event("journey.QUEUED", "r2-0", 4'900'000) << "\n"
    << event("journey.SCHEDULED", "r2-0", 5'000'000) << "\n"
    << event("journey.FIRST_TOKEN", "r2-0", 5'400'000) << "\n"
    << event("api.FIRST_RESPONSE_FROM_CORE", "r2", 5'500'000) << "\n"
    << event("journey.FINISHED", "r2-0", 6'000'000) << "\n"
    << event("api.DEPARTED", "r2", 6'300'000) << "\n";
  std::istringstream in(t.str());
  DatasetOptions o;
  o.warmup_steps = 0;
  return read_dataset(in, o, {});
}

TEST(FitHops, MeasuresEachHopAndFlagsCoreBusy) {
  const Dataset d = sample();
  ASSERT_EQ(d.requests.size(), 2u);
  EXPECT_TRUE(d.requests[0].core_busy);   // step 3 ran from before QUEUED to after HANDOFF
  EXPECT_FALSE(d.requests[1].core_busy);  // idle between 4.2 and 4.9 ms
  EXPECT_EQ(d.stats.core_busy, 1u);

  const Hops h = measure_hops(d);
  EXPECT_DOUBLE_EQ(h.first_response.mean_us, (300.0 + 100.0) / 2);
  EXPECT_EQ(h.first_response.rows, 2u);
  EXPECT_DOUBLE_EQ(h.departure.mean_us, (500.0 + 300.0) / 2);
  EXPECT_DOUBLE_EQ(h.step_gap.mean_us, 50.0);  // steps 2 and 3; step 4 followed idling
  EXPECT_EQ(h.step_gap.rows, 2u);
  EXPECT_FALSE(h.client_first_chunk);
}

TEST(FitHops, ClientHopsAreBenchMinusTrace) {
  const Dataset d = sample();
  Hops h = measure_hops(d);
  // Traced ARRIVED -> FIRST_RESPONSE: 1.5 and 1.5 ms; ARRIVED -> DEPARTED: 2.7 and 2.3 ms.
  // Two runs of one request each, pooled: TTFT 1.7 and 1.9 ms, E2E 2.6 and 2.8 ms.
  const std::vector<BenchRun> runs = {{"a.json", 1, 1.7, 2.6, {}}, {"b.json", 1, 1.9, 2.8, {}}};
  ASSERT_TRUE(calibrate_client(h, d, runs));
  ASSERT_TRUE(h.client_first_chunk);
  EXPECT_NEAR(h.client_first_chunk->mean_us, 1800.0 - 1500.0, 1e-6);
  EXPECT_NEAR(h.client_last_chunk->mean_us, 2700.0 - 2500.0, 1e-6);
  EXPECT_EQ(h.client_first_chunk->rows, 2u);

  const nlohmann::json j = hops_json(h);
  EXPECT_NEAR(j["client_first_chunk"]["mean_us"].get<double>(), 300.0, 1e-6);
  EXPECT_EQ(j["step_gap"]["rows"], 2);
}

TEST(FitHops, BenchResultMustBeOne) {
  const std::filesystem::path path = std::filesystem::temp_directory_path() /
                                     ("waypoint-hops-" + std::to_string(::getpid()) + ".json");
  std::ofstream(path) << R"({"completed": 3, "mean_ttft_ms": 2.5})";
  auto run = read_bench_result(path.string());
  ASSERT_FALSE(run);
  EXPECT_NE(run.error().message.find("mean_e2el_ms"), std::string::npos) << run.error().message;
  std::ofstream(path) << R"({"completed": 3, "mean_ttft_ms": 2.5, "mean_e2el_ms": 9})";
  run = read_bench_result(path.string());
  ASSERT_TRUE(run) << run.error().message;
  EXPECT_EQ(run->completed, 3u);
  EXPECT_DOUBLE_EQ(run->mean_e2el_ms, 9);
  std::filesystem::remove(path);
  EXPECT_FALSE(read_bench_result(path.string()));
}

StepRow prefill_step(std::int64_t start_ns, std::int64_t end_ns, double prefill_tokens) {
  StepRow s;
  s.ts_start_ns = start_ns;
  s.ts_end_ns = end_ns;
  s.prefill_tokens = prefill_tokens;
  return s;
}

TEST(FitHops, PrefillRunningAtIsTheStepInFlight) {
  const std::vector<StepRow> steps = {prefill_step(1000, 2000, 7), prefill_step(3000, 4000, 0),
                                      prefill_step(4000, 5000, 9)};
  EXPECT_EQ(prefill_tokens_running_at(steps, 500), 0.0);   // before any step
  EXPECT_EQ(prefill_tokens_running_at(steps, 1000), 0.0);  // the step starting now: not before it
  EXPECT_EQ(prefill_tokens_running_at(steps, 1500), 7.0);
  EXPECT_EQ(prefill_tokens_running_at(steps, 2500), 0.0);  // between steps
  EXPECT_EQ(prefill_tokens_running_at(steps, 3500), 0.0);  // a decode-only step
  EXPECT_EQ(prefill_tokens_running_at(steps, 4500), 9.0);
  EXPECT_EQ(prefill_tokens_running_at(steps, 6000), 0.0);  // after the last
}

// Steps k run over [2k, 2k+1) ms with varied prefills. Request i arrives
// inside step i, and its first response leaves inside a later step or in a
// gap. Bench's TTFT is the traced ARRIVED -> FIRST_RESPONSE plus a known
// hop: 500 us + 2 us per prefill token running at arrival + 3 per token
// running at the response. The per-request fit recovers it.
TEST(FitHops, ClientHopPerRequestRecoversKnownCoefficients) {
  constexpr std::int64_t kMsNs = 1'000'000;
  Dataset d;
  for (std::int64_t k = 0; k < 200; ++k) {
    d.steps.push_back(
        prefill_step(2 * k * kMsNs, (2 * k + 1) * kMsNs, (k % 5 == 0) ? 0 : (k * 37) % 400));
  }
  BenchRun run{"r.json", 0, 0, 0, {}};
  for (std::int64_t i = 0; i < 60; ++i) {
    RequestRow r;
    r.request_id = "cmpl-" + std::to_string(i);
    r.arrived_ns = 2 * i * kMsNs + kMsNs / 2;
    const std::int64_t j = i + 1 + i % 3;
    r.first_response_ns = 2 * j * kMsNs + (i % 4 == 0 ? 3 * kMsNs / 2 : kMsNs / 4);
    r.departed_ns = *r.first_response_ns + 5 * kMsNs;
    const double hop = 500 + 2 * prefill_tokens_running_at(d.steps, *r.arrived_ns) +
                       3 * prefill_tokens_running_at(d.steps, *r.first_response_ns);
    run.ttft_us_by_id.emplace_back(
        r.request_id, static_cast<double>(*r.first_response_ns - *r.arrived_ns) / 1e3 + hop);
    d.requests.push_back(r);
  }
  run.completed = 60;
  run.mean_ttft_ms = 10;
  run.mean_e2el_ms = 20;
  // A request bench saw that the trace did not record is skipped, not guessed at.
  run.ttft_us_by_id.emplace_back("cmpl-elsewhere", 1e6);

  Hops h = measure_hops(d);
  ASSERT_TRUE(calibrate_client(h, d, {run}));
  ASSERT_TRUE(h.client_first_chunk_model);
  EXPECT_EQ(h.client_first_chunk_model->rows, 60u);
  const std::vector<double>& c = h.client_first_chunk_model->coefficients;
  ASSERT_EQ(c.size(), 3u);
  EXPECT_NEAR(c[0], 500.0, 1e-6);
  EXPECT_NEAR(c[1], 2.0, 1e-9);
  EXPECT_NEAR(c[2], 3.0, 1e-9);
  const nlohmann::json j = hops_json(h);
  EXPECT_EQ(j["client_first_chunk"]["features"], client_hop_feature_names());
  EXPECT_EQ(j["client_first_chunk"]["model_rows"], 60);
  EXPECT_NE(hops_report(h).find("per prefill token running at arrival"), std::string::npos);

  // Without response ids (an older bench) the hop stays a mean.
  run.ttft_us_by_id.clear();
  Hops mean_only = measure_hops(d);
  ASSERT_TRUE(calibrate_client(mean_only, d, {run}));
  EXPECT_TRUE(mean_only.client_first_chunk);
  EXPECT_FALSE(mean_only.client_first_chunk_model);
  EXPECT_NE(hops_report(mean_only).find("not fitted"), std::string::npos);
}

TEST(FitHops, BenchResultResponseIdsPairWithTtfts) {
  const std::filesystem::path path = std::filesystem::temp_directory_path() /
                                     ("waypoint-hops-ids-" + std::to_string(::getpid()) + ".json");
  std::ofstream(path) << R"({"completed": 2, "mean_ttft_ms": 2.5, "mean_e2el_ms": 9,
      "ttfts": [0.002, 0.0, 0.003], "errors": ["", "boom", ""],
      "response_ids": ["cmpl-a", "", "cmpl-c"]})";
  auto run = read_bench_result(path.string());
  ASSERT_TRUE(run) << run.error().message;
  ASSERT_EQ(run->ttft_us_by_id.size(), 2u);  // the failed request is left out
  EXPECT_EQ(run->ttft_us_by_id[1].first, "cmpl-c");
  EXPECT_NEAR(run->ttft_us_by_id[1].second, 3000.0, 1e-9);
  std::ofstream(path) << R"({"completed": 2, "mean_ttft_ms": 2.5, "mean_e2el_ms": 9,
      "ttfts": [0.002], "response_ids": ["cmpl-a", "cmpl-b"]})";
  run = read_bench_result(path.string());
  ASSERT_FALSE(run);
  EXPECT_NE(run.error().message.find("differ in length"), std::string::npos);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace waypoint::fit
