// The engine without the serving around it: the scheduler and the CPU model
// runner in one process, stepping N concurrent requests of a fixed length to
// the end. It reports output tokens/s for the whole loop and for the forward
// pass (execute_model) alone, the two figures the served tokens/s of
// `waypoint serve` are compared with in docs/benchmarks.md.
//
//   WAYPOINT_BENCH_MODEL=build/fixtures/tiny-f32 build/bin/bench_engine_offline
#include <chrono>
#include <cstdlib>
#include <string>

#include <benchmark/benchmark.h>

#include "engine_core/clock.hpp"
#include "engine_core/engine_step.hpp"
#include "engine_core/scheduler.hpp"
#include "worker/cpu_model_runner.hpp"
#include "worker/llama_weights.hpp"
#include "worker/model_loader.hpp"

namespace waypoint {
namespace {

constexpr int kPromptTokens = 6;  // about what "Stream number i says" encodes to
constexpr int kOutputTokens = 128;

// Times the forward passes it forwards to.
class TimedExecutor final : public Executor {
 public:
  explicit TimedExecutor(Executor& inner) : inner_(inner) {}
  ModelRunnerOutput execute_model(const SchedulerOutput& step) override {
    const auto t0 = std::chrono::steady_clock::now();
    ModelRunnerOutput out = inner_.execute_model(step);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return out;
  }
  double seconds = 0;

 private:
  Executor& inner_;
};

void BM_EngineOffline(benchmark::State& state) {
  const char* dir = std::getenv("WAYPOINT_BENCH_MODEL");
  if (dir == nullptr) {
    state.SkipWithError("set WAYPOINT_BENCH_MODEL to a model directory (build/fixtures/tiny-f32)");
    return;
  }
  auto loaded = load_model(dir);
  if (!loaded) {
    state.SkipWithError(loaded.error().message.c_str());
    return;
  }
  auto weights = load_llama_weights(loaded->config, loaded->weights, TpShard{0, 1});
  if (!weights) {
    state.SkipWithError(weights.error().message.c_str());
    return;
  }
  const int n = static_cast<int>(state.range(0));
  SchedulerConfig sc;  // as `waypoint serve` sets it by default
  sc.max_model_len = loaded->config.max_position_embeddings;
  sc.max_num_batched_tokens = std::max(2048, sc.max_model_len);
  sc.num_blocks = 1 + 256 * ((kPromptTokens + kOutputTokens + 15) / 16 + 1);
  SingleRank single;
  CpuModelRunner runner(loaded->config, std::move(*weights),
                        {.num_blocks = sc.num_blocks, .block_size = sc.block_size, .seed = 0},
                        single);
  TimedExecutor timed(runner);
  SteadyClock clock;
  Scheduler scheduler(sc, clock);
  int64_t round = 0;
  for (auto _ : state) {
    for (int i = 0; i < n; ++i) {
      EngineCoreRequest r;
      r.request_id = std::to_string(round) + "-" + std::to_string(i);
      for (int t = 0; t < kPromptTokens; ++t) r.prompt_token_ids.push_back(1 + (i * 7 + t) % 500);
      r.sampling_params.max_tokens = kOutputTokens;
      r.sampling_params.ignore_eos = true;
      if (!scheduler.add_request(r)) state.SkipWithError("request refused");
    }
    while (scheduler.has_unfinished_requests()) engine_step(scheduler, timed);
    ++round;
  }
  const double tokens = static_cast<double>(round) * n * kOutputTokens;
  state.counters["tok/s"] = benchmark::Counter(tokens, benchmark::Counter::kIsRate);
  state.counters["forward_tok/s"] = tokens / timed.seconds;
}
BENCHMARK(BM_EngineOffline)
    ->Arg(1)
    ->Arg(16)
    ->Arg(256)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace waypoint

BENCHMARK_MAIN();
