// Step tracing in the real scheduler (docs/step-tracing.md): which steps
// are sampled, what a summary and a snapshot say, and the per-request core
// events (QUEUED / SCHEDULED / PREEMPTED) the frontend's metrics read.
#include "engine_core/step_tracer.hpp"

#include <cmath>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "engine_core/engine_step.hpp"
#include "engine_core/scheduler.hpp"
#include "perf/synthetic_executor.hpp"
#include "telemetry/trace_attributes.hpp"
#include "tests/engine_core/scheduler_test_util.hpp"

namespace waypoint {
namespace {

using test::make_request;
using test::small_config;
using test::token_run;

// Runs the model in `execute_ns` of virtual time, so execute_us is known.
class TimedExecutor final : public Executor {
 public:
  TimedExecutor(ManualClock& clock, int64_t execute_ns) : clock_(clock), execute_ns_(execute_ns) {}
  ModelRunnerOutput execute_model(const SchedulerOutput& step) override {
    clock_.advance_ns(execute_ns_);
    return inner_.execute_model(step);
  }

 private:
  ManualClock& clock_;
  int64_t execute_ns_;
  SyntheticExecutor inner_;
};

SchedulerConfig traced(SchedulerConfig c, double rate, double rich) {
  c.step_tracing.enabled = true;
  c.step_tracing.sample_rate = rate;
  c.step_tracing.rich_subsample_rate = rich;
  c.step_tracing.seed = 7;
  return c;
}

// A mixed load: prompts of assorted lengths (some sharing a prefix), chunked
// prefills, and a KV pool small enough to preempt.
void add_mixed_load(Scheduler& s, int n, std::mt19937& rng) {
  std::uniform_int_distribution<int32_t> prompt(1, 90), out(1, 40);
  for (int i = 0; i < n; ++i) {
    auto tokens = i % 3 == 0 ? test::concat(token_run(1, 32), token_run(1000 + i * 100, prompt(rng)))
                             : token_run(5000 + i * 100, prompt(rng));
    auto request = make_request("r" + std::to_string(i), tokens, out(rng));
    request.sampling_params.ignore_eos = true;
    ASSERT_TRUE(s.add_request(request).ok());
  }
}

TEST(StepTracer, OffRecordsNothing) {
  ManualClock clock;
  Scheduler s(small_config(16, 64, 256), clock);
  SyntheticExecutor executor;
  ASSERT_TRUE(s.add_request(make_request("a", token_run(1, 20), 4)).ok());
  while (s.has_unfinished_requests()) {
    engine_step(s, executor);
    EXPECT_FALSE(s.take_step_record().has_value());
  }
}

TEST(StepTracer, AtRateOneEveryStepHasOneSummaryAndTheSumsAgree) {
  ManualClock clock;
  // 40 usable blocks of 16 tokens for 24 requests of up to 130 tokens: preempts.
  auto config = traced(small_config(16, 41, 256, 128, 16), 1.0, 0.0);
  config.long_prefill_token_threshold = 48;
  Scheduler s(config, clock);
  TimedExecutor executor(clock, 3'000);
  std::mt19937 rng(11);
  add_mixed_load(s, 24, rng);

  uint64_t expected_id = 1;
  int preempting_steps = 0;
  int64_t cached_tokens = 0;
  while (s.has_unfinished_requests()) {
    const SchedulerOutput& step = s.schedule();
    const auto batch_size = step.scheduled_new_reqs.size() + step.scheduled_cached_reqs.size();
    const auto preempted = step.preempted_req_ids.size();
    const int32_t total_tokens = step.total_num_scheduled_tokens;
    const ModelRunnerOutput result = executor.execute_model(step);
    clock.advance_ns(500);  // between execute and update: counted as execute
    s.update_from_output(step, result);

    auto record = s.take_step_record();
    ASSERT_TRUE(record.has_value()) << "step " << expected_id;
    EXPECT_FALSE(s.take_step_record().has_value()) << "a record is taken once";
    const BatchSummary& b = record->summary;
    EXPECT_EQ(b.step_id, expected_id++);  // every id once, no gaps
    EXPECT_EQ(b.scheduled_tokens, total_tokens);
    EXPECT_EQ(b.prefill_tokens + b.decode_tokens, b.scheduled_tokens);
    EXPECT_EQ(static_cast<size_t>(b.num_prefill_reqs + b.num_decode_reqs), batch_size);
    EXPECT_EQ(b.decode_tokens, b.num_decode_reqs);  // one token per decode
    EXPECT_EQ(static_cast<size_t>(b.num_preempted), preempted);
    EXPECT_LE(b.kv_blocks_free, b.kv_blocks_total);
    EXPECT_EQ(b.kv_blocks_total, 40);
    EXPECT_NEAR(b.kv_usage, 1.0 - double(b.kv_blocks_free) / b.kv_blocks_total, 1e-12);
    EXPECT_GE(b.duration_us, b.schedule_us + b.execute_us + b.update_us);
    // The virtual clock moved only in the executor and between execute and update.
    EXPECT_EQ(b.execute_us, 3);
    EXPECT_EQ(b.duration_us, 3);
    EXPECT_EQ(b.ts_end_ns - b.ts_start_ns, 3'500);
    EXPECT_EQ(b.gap_us, 0);
    EXPECT_GE(b.decode_ctx_tokens_sum, b.decode_tokens);
    EXPECT_GE(b.prefill_ctx_tokens_sum, b.prefill_tokens);
    EXPECT_GE(b.num_running_tokens, b.scheduled_tokens);
    EXPECT_FALSE(record->rich);
    EXPECT_TRUE(record->snapshots.empty());
    if (b.num_preempted > 0) ++preempting_steps;
    cached_tokens += b.prefill_cached_tokens;
  }
  EXPECT_GT(preempting_steps, 0) << "the load was meant to preempt";
  EXPECT_GT(cached_tokens, 0) << "every third prompt shares a 32-token prefix";
}

TEST(StepTracer, GapIsTheIdleTimeBetweenSteps) {
  ManualClock clock;
  Scheduler s(traced(small_config(16, 64, 256), 1.0, 0.0), clock);
  TimedExecutor executor(clock, 1'000'000);
  ASSERT_TRUE(s.add_request(make_request("a", token_run(1, 20), 3)).ok());
  engine_step(s, executor);
  EXPECT_EQ(s.take_step_record()->summary.gap_us, 0) << "no previous step";
  clock.advance_ns(250'000);
  engine_step(s, executor);
  auto record = s.take_step_record();
  EXPECT_EQ(record->summary.gap_us, 250);
  EXPECT_EQ(record->summary.execute_us, 1000);
  EXPECT_EQ(record->summary.duration_us, 1000);
}

TEST(StepTracer, SampledFractionIsWithinBinomialBounds) {
  // 10,000 steps at rate 0.01: mean 100, sd ~9.95; 5 sd either side.
  ManualClock clock;
  auto config = traced(small_config(16, 2048, 4096, 512, 64), 0.01, 0.5);
  Scheduler s(config, clock);
  SyntheticExecutor executor;
  auto request = make_request("long", token_run(1, 8), 4000);
  request.sampling_params.ignore_eos = true;
  ASSERT_TRUE(s.add_request(request).ok());
  int sampled = 0, rich = 0;
  std::set<uint64_t> ids;
  for (int i = 0; i < 10'000; ++i) {
    if (!s.has_unfinished_requests()) {
      auto more = make_request("more" + std::to_string(i), token_run(1, 8), 4000);
      more.sampling_params.ignore_eos = true;
      ASSERT_TRUE(s.add_request(more).ok());
    }
    engine_step(s, executor);
    if (auto record = s.take_step_record()) {
      ++sampled;
      ids.insert(record->summary.step_id);
      if (record->rich) ++rich;
    }
  }
  EXPECT_EQ(s.scheduler_step(), 10'000u);
  EXPECT_GE(sampled, 50);
  EXPECT_LE(sampled, 150);
  EXPECT_EQ(ids.size(), static_cast<size_t>(sampled));
  // Rich is a subsample of the sampled steps: half of them, within 5 sd.
  const double sd = std::sqrt(sampled * 0.25);
  EXPECT_NEAR(rich, sampled * 0.5, 5 * sd);
}

TEST(StepTracer, SamplingIsAFunctionOfSeedAndStep) {
  int agree = 0;
  for (uint64_t step = 1; step <= 1000; ++step) {
    EXPECT_EQ(StepTracer::draw(3, step, 0, 0.3), StepTracer::draw(3, step, 0, 0.3));
    agree += StepTracer::draw(3, step, 0, 0.5) == StepTracer::draw(4, step, 0, 0.5);
  }
  EXPECT_LT(agree, 600) << "another seed samples other steps";
  EXPECT_TRUE(StepTracer::draw(1, 1, 0, 1.0));
  EXPECT_FALSE(StepTracer::draw(1, 1, 0, 0.0));
}

TEST(StepTracer, RichStepsSnapshotEveryRunningRequest) {
  ManualClock clock;
  auto config = traced(small_config(16, 41, 256, 128, 16), 1.0, 1.0);
  Scheduler s(config, clock);
  SyntheticExecutor executor;
  std::mt19937 rng(5);
  add_mixed_load(s, 12, rng);
  int snapshots = 0;
  while (s.has_unfinished_requests()) {
    engine_step(s, executor);
    auto record = s.take_step_record();
    ASSERT_TRUE(record && record->rich);
    const BatchSummary& b = record->summary;
    ASSERT_EQ(record->snapshots.size(), static_cast<size_t>(b.running_depth));
    int32_t scheduled = 0, prefill = 0, decode = 0;
    for (const RequestSnapshot& r : record->snapshots) {
      scheduled += r.scheduled_tokens_this_step;
      (r.phase == RequestPhase::DECODE ? decode : prefill) += r.scheduled_tokens_this_step;
      EXPECT_LE(r.num_computed_tokens + r.scheduled_tokens_this_step,
                r.num_prompt_tokens + r.num_output_tokens);
      EXPECT_LE(r.kv_blocks_cached, r.kv_blocks_allocated);
      EXPECT_EQ(r.effective_prompt_len, r.num_prompt_tokens - r.kv_blocks_cached * 16);
    }
    // Every running request was scheduled or waited for budget; the batch is theirs.
    EXPECT_EQ(scheduled, b.scheduled_tokens);
    EXPECT_EQ(prefill, b.prefill_tokens);
    EXPECT_EQ(decode, b.decode_tokens);
    snapshots += static_cast<int>(record->snapshots.size());
  }
  EXPECT_GT(snapshots, 0);
}

TEST(StepTracer, HubEventsCarryTheContractKeys) {
  StepRecord record;
  record.summary.step_id = 42;
  record.summary.ts_start_ns = 1'000;
  record.summary.ts_end_ns = 9'000;
  record.summary.duration_us = 8;
  record.rich = true;
  record.snapshots.push_back({.request_id = "r1", .phase = RequestPhase::DECODE});
  const auto events = step_hub_events(record, 5);
  ASSERT_EQ(events.size(), 2u);
  for (std::string_view key :
       {attr::kStepId, attr::kStepTsStartNs, attr::kStepTsEndNs, attr::kStepDurationUs,
        attr::kStepScheduleUs, attr::kStepExecuteUs, attr::kStepUpdateUs, attr::kStepGapUs,
        attr::kQueueRunningDepth, attr::kQueueWaitingDepth, attr::kBatchNumPrefillReqs,
        attr::kBatchNumDecodeReqs, attr::kBatchScheduledTokens, attr::kBatchPrefillTokens,
        attr::kBatchDecodeTokens, attr::kBatchNumFinished, attr::kBatchNumPreempted,
        attr::kBatchPrefillCachedTokens, attr::kBatchDecodeCtxTokensSum,
        attr::kBatchPrefillCtxTokensSum, attr::kBatchPrefillAttentionPairs,
        attr::kBatchNumRunningTokens, attr::kKvUsageGpuRatio,
        attr::kKvBlocksTotalGpu, attr::kKvBlocksFreeGpu, attr::kSchedulerStep,
        attr::kTsMonotonicNs, attr::kTsEpochNs}) {
    EXPECT_NE(events[0].find(key), nullptr) << key;
  }
  EXPECT_EQ(std::get<std::string>(*events[0].find(attr::kEventType)), "step.BATCH_SUMMARY");
  EXPECT_EQ(std::get<int64_t>(*events[0].find(attr::kTsEpochNs)), 9'005);
  for (std::string_view key :
       {attr::kRequestId, attr::kRequestPhase, attr::kNumPromptTokens,
        attr::kRequestNumComputedTokens, attr::kNumOutputTokens, attr::kRequestNumPreemptions,
        attr::kRequestScheduledTokensThisStep, attr::kRequestEffectivePromptLen,
        attr::kKvBlocksAllocatedGpu, attr::kKvBlocksCachedGpu, attr::kStepId}) {
    EXPECT_NE(events[1].find(key), nullptr) << key;
  }
  EXPECT_EQ(std::get<std::string>(*events[1].find(attr::kEventType)), "step.REQUEST_SNAPSHOT");
  EXPECT_EQ(std::get<std::string>(*events[1].find(attr::kRequestPhase)), "DECODE");
}

TEST(StepTracer, RejectsRatesOutsideZeroToOne) {
  StepTracingConfig c;
  c.sample_rate = 1.5;
  EXPECT_NE(c.validate().error().message.find("--step-tracing-sample-rate"), std::string::npos);
  c = {};
  c.rich_subsample_rate = -0.1;
  EXPECT_FALSE(c.validate().ok());
  c = {};
  c.closure_interval = 0;
  EXPECT_NE(c.validate().error().message.find("--step-tracing-closure-interval"),
            std::string::npos);
}

// The core's per-request events, which ride on the request's next output.
TEST(EngineCoreEvents, QueuedScheduledPreemptedReachTheNextOutput) {
  ManualClock clock;
  clock.set_ns(1'000'000'000);
  // 4 usable blocks of 4 tokens: two 7-token prompts fit, then one must give way.
  Scheduler s(small_config(4, 5, 16, 64, 4), clock);
  auto a = make_request("a", token_run(1, 7), 8);
  auto b = make_request("b", token_run(100, 7), 8);
  a.sampling_params.ignore_eos = b.sampling_params.ignore_eos = true;
  ASSERT_TRUE(s.add_request(a).ok());
  clock.advance_ns(1'000'000);
  ASSERT_TRUE(s.add_request(b).ok());
  clock.advance_ns(1'000'000);

  SyntheticExecutor executor;
  std::map<std::string, std::vector<EngineCoreEventType>> seen;
  std::map<std::string, double> queued_at;
  while (s.has_unfinished_requests()) {
    clock.advance_ns(1'000'000);
    for (const auto& batch : engine_step(s, executor)) {
      for (const auto& out : batch.outputs) {
        double last = 0.0;
        for (const auto& e : out.events) {
          seen[out.request_id].push_back(e.type);
          EXPECT_GE(e.timestamp, last) << "oldest first";
          last = e.timestamp;
          if (e.type == EngineCoreEventType::QUEUED) queued_at[out.request_id] = e.timestamp;
        }
      }
    }
  }
  using T = EngineCoreEventType;
  ASSERT_GE(seen["a"].size(), 2u);
  EXPECT_EQ(seen["a"][0], T::QUEUED);
  EXPECT_EQ(seen["a"][1], T::SCHEDULED);
  EXPECT_DOUBLE_EQ(queued_at["a"], 1.0);
  EXPECT_DOUBLE_EQ(queued_at["b"], 1.001);
  // b, the later arrival, is preempted at some point and scheduled again.
  const auto& eb = seen["b"];
  EXPECT_NE(std::find(eb.begin(), eb.end(), T::PREEMPTED), eb.end());
  EXPECT_EQ(std::count(eb.begin(), eb.end(), T::SCHEDULED),
            std::count(eb.begin(), eb.end(), T::PREEMPTED) + 1);
}

TEST(EngineCoreEvents, AnAbortedWaitingRequestStillReportsItsQueueing) {
  ManualClock clock;
  Scheduler s(small_config(16, 64, 256), clock);
  ASSERT_TRUE(s.add_request(make_request("w", token_run(1, 5), 4)).ok());
  const std::vector<std::string> ids{"w"};
  s.abort_requests(ids);
  auto& outputs = s.take_pending_outputs();
  ASSERT_EQ(outputs.at(0).outputs.size(), 1u);
  const auto& out = outputs[0].outputs[0];
  EXPECT_EQ(out.finish_reason, FinishReason::ABORT);
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0].type, EngineCoreEventType::QUEUED);
}

}  // namespace
}  // namespace waypoint
