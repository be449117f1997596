// One engine-core step without the model: schedule() plus
// update_from_output(), with 256 running decode requests, 64 waiting, and
// block size 16. The synthetic executor's time is excluded (manual timing),
// since a real step hands that part to the workers.
#include <chrono>
#include <random>
#include <string>

#include <benchmark/benchmark.h>

#include "engine_core/scheduler.hpp"
#include "engine_core/synthetic_executor.hpp"

namespace waypoint {
namespace {

constexpr int kRunning = 256;
constexpr int kWaiting = 64;
constexpr int kPromptLen = 128;

EngineCoreRequest make_request(int n, std::mt19937_64& rng) {
  EngineCoreRequest r;
  // vLLM-shaped ids: too long for the small-string buffer, as in production.
  r.request_id = "cmpl-" + std::to_string(0x3f2a9c1e0b7d4e5full + n) + "-0";
  r.prompt_token_ids.resize(kPromptLen);
  for (auto& t : r.prompt_token_ids) t = static_cast<TokenId>(rng() % 32000);
  // Lengths vary so requests finish now and then and waiting ones get
  // admitted, as in a serving steady state.
  r.sampling_params.max_tokens = 256 + static_cast<int32_t>(rng() % 768);
  r.sampling_params.ignore_eos = true;
  return r;
}

void BM_SchedulerStep(benchmark::State& state) {
  const bool prefix_caching = state.range(0) != 0;
  SchedulerConfig config;
  config.max_num_seqs = kRunning;
  config.max_num_batched_tokens = 2048;
  config.max_model_len = 2048;
  config.block_size = 16;
  config.num_blocks = 1 + kRunning * (2048 / 16);
  config.enable_prefix_caching = prefix_caching;
  SteadyClock clock;
  Scheduler scheduler(config, clock);
  SyntheticExecutor executor;
  std::mt19937_64 rng(42);

  int next_id = 0;
  auto top_up = [&] {
    while (scheduler.num_running() + scheduler.num_waiting() < kRunning + kWaiting) {
      if (!scheduler.add_request(make_request(next_id++, rng)).ok()) state.SkipWithError("add");
    }
  };
  // Warm up until all 256 are decoding.
  top_up();
  for (int i = 0; i < 8; ++i) {
    const auto& step = scheduler.schedule();
    (void)scheduler.update_from_output(step, executor.execute_model(step));
    top_up();
  }

  int64_t tokens = 0, admissions = 0;
  double schedule_s = 0, update_s = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    const SchedulerOutput& step = scheduler.schedule();
    const auto t1 = std::chrono::steady_clock::now();
    ModelRunnerOutput result = executor.execute_model(step);
    const auto t2 = std::chrono::steady_clock::now();
    const StepOutputs& outputs = scheduler.update_from_output(step, result);
    const auto t3 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(outputs);
    schedule_s += std::chrono::duration<double>(t1 - t0).count();
    update_s += std::chrono::duration<double>(t3 - t2).count();
    state.SetIterationTime(std::chrono::duration<double>((t1 - t0) + (t3 - t2)).count());
    tokens += step.total_num_scheduled_tokens;
    admissions += static_cast<int64_t>(step.scheduled_new_reqs.size());
    top_up();
  }
  state.counters["schedule_us"] =
      benchmark::Counter(schedule_s * 1e6, benchmark::Counter::kAvgIterations);
  state.counters["update_us"] =
      benchmark::Counter(update_s * 1e6, benchmark::Counter::kAvgIterations);
  state.counters["running"] = scheduler.num_running();
  state.counters["waiting"] = scheduler.num_waiting();
  state.counters["tokens_per_step"] =
      benchmark::Counter(static_cast<double>(tokens), benchmark::Counter::kAvgIterations);
  state.counters["admits_per_step"] =
      benchmark::Counter(static_cast<double>(admissions), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_SchedulerStep)
    ->Arg(1)
    ->Arg(0)
    ->ArgName("prefix_caching")
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace waypoint

BENCHMARK_MAIN();
