// The hops around the core, measured from a hand-written trace, and the
// client's share calibrated against bench results.
#include "tools/fit_hops.hpp"

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
    << (end_ns - start_ns) / 1000 << R"(,"step.gap_us":)" << gap_us
    << R"(,"queue.running_depth":)" << running << R"(,"queue.waiting_depth":0,)"
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
  const std::vector<BenchRun> runs = {{"a.json", 1, 1.7, 2.6}, {"b.json", 1, 1.9, 2.8}};
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

}  // namespace
}  // namespace waypoint::fit
