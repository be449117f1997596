// One engine-core step without the model: schedule() plus
// update_from_output() plus encoding each client's EngineCoreOutputs, with
// 256 running decode requests, 64 waiting, and block size 16. The synthetic
// executor's time is excluded (manual timing), since a real step hands that
// part to the workers. Run with journey tracing or step tracing off and on,
// side by side, it is the core's cost of tracing; BM_JourneyEvent is the cost
// of one journey event, BM_StepHubEvents that of turning a sampled step's
// record into hub events (done on the publisher's thread, off the loop).
#include <chrono>
#include <random>
#include <string>

#include <benchmark/benchmark.h>

#include "engine_core/scheduler.hpp"
#include "engine_core/step_trace.hpp"
#include "perf/synthetic_executor.hpp"
#include "proto/codec.hpp"

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
  const bool journey = state.range(1) != 0;
  const int64_t step_tracing = state.range(2);  // 0 off, 1 at vLLM's 0.01, 2 every step
  SchedulerConfig config;
  config.max_num_seqs = kRunning;
  config.max_num_batched_tokens = 2048;
  config.max_model_len = 2048;
  config.block_size = 16;
  config.num_blocks = 1 + kRunning * (2048 / 16);
  config.enable_prefix_caching = prefix_caching;
  config.enable_journey_tracing = journey;
  config.step_tracing.enabled = step_tracing > 0;
  config.step_tracing.sample_rate = step_tracing == 2 ? 1.0 : 0.01;
  config.step_tracing.rich_subsample_rate = 0.0;
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

  int64_t tokens = 0, admissions = 0, events = 0, records = 0;
  size_t bytes = 0;
  double schedule_s = 0, update_s = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    const SchedulerOutput& step = scheduler.schedule();
    const auto t1 = std::chrono::steady_clock::now();
    ModelRunnerOutput result = executor.execute_model(step);
    const auto t2 = std::chrono::steady_clock::now();
    const StepOutputs& outputs = scheduler.update_from_output(step, result);
    for (const auto& batch : outputs) {
      bytes += encode(batch).size();
      if (batch.journey_events) events += static_cast<int64_t>(batch.journey_events->size());
    }
    // What the engine loop does with a sampled step: take the record (its
    // hub events are built on the publisher's thread).
    if (auto record = scheduler.take_step_record()) {
      benchmark::DoNotOptimize(record);
      ++records;
    }
    const auto t3 = std::chrono::steady_clock::now();
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
  state.counters["events_per_step"] =
      benchmark::Counter(static_cast<double>(events), benchmark::Counter::kAvgIterations);
  state.counters["bytes_per_step"] =
      benchmark::Counter(static_cast<double>(bytes), benchmark::Counter::kAvgIterations);
  state.counters["journey_live"] = static_cast<double>(scheduler.journey_live_states());
  state.counters["step_records_per_step"] =
      benchmark::Counter(static_cast<double>(records), benchmark::Counter::kAvgIterations);
}
// Off and on interleaved, so drift on a noisy machine hits both alike.
BENCHMARK(BM_SchedulerStep)
    ->Args({1, 0, 0})
    ->Args({1, 1, 0})
    ->Args({0, 0, 0})
    ->Args({0, 1, 0})
    ->Args({1, 0, 1})
    ->Args({1, 0, 2})
    ->ArgNames({"prefix_caching", "journey", "step_tracing"})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

// One journey event at a transition: the clock read, the snapshot, the
// append to its client's buffer, and (amortized) the per-step flush.
void BM_JourneyEvent(benchmark::State& state) {
  SteadyClock clock;
  JourneyTracer tracer(clock, true);
  std::vector<EngineCoreOutputs> outputs(1);
  Request request;
  request.request_id = "cmpl-3f2a9c1e0b7d4e5f3f2a9c1e-0";  // vLLM-shaped: heap-allocated
  request.num_prompt_tokens = 128;
  request.num_computed_tokens = 64;
  request.max_tokens = 256;
  request.all_token_ids.resize(130);
  uint64_t step = 0;
  int in_buffer = 0;
  for (auto _ : state) {
    tracer.scheduled(request, ++step);
    if (++in_buffer == 256) {  // about one step's worth at batch 256
      tracer.flush_into(outputs);
      in_buffer = 0;
    }
  }
  benchmark::DoNotOptimize(outputs);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_JourneyEvent)->Unit(benchmark::kNanosecond);

// A sampled step with 256 running requests, rich (one snapshot each) or not:
// the cost of its hub events, paid on the publisher's thread.
void BM_StepHubEvents(benchmark::State& state) {
  StepRecord record;
  record.summary.step_id = 1234;
  record.rich = state.range(0) != 0;
  if (record.rich) {
    for (int i = 0; i < kRunning; ++i) {
      record.snapshots.push_back({.request_id = "cmpl-" + std::to_string(4567890123ull + i) + "-0",
                                  .phase = RequestPhase::DECODE,
                                  .num_prompt_tokens = kPromptLen});
    }
  }
  for (auto _ : state) benchmark::DoNotOptimize(step_hub_events(record, 0));
}
BENCHMARK(BM_StepHubEvents)->Arg(0)->Arg(1)->ArgName("rich")->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace waypoint

BENCHMARK_MAIN();
