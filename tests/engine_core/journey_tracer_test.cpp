// Journey tracing in the engine core (docs/journey-tracing.md): which events
// a request's transitions emit, with what progress snapshot, into which
// client's batch, and that nothing is left behind however a request ends.
#include "engine_core/journey_tracer.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "engine_core/clock.hpp"
#include "engine_core/scheduler.hpp"
#include "perf/synthetic_executor.hpp"
#include "scheduler_test_util.hpp"
#include "telemetry/trace_attributes.hpp"

namespace waypoint {
namespace {

using test::answer;
using test::make_request;
using test::small_config;
using test::token_run;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Type = JourneyEventType;

SchedulerConfig traced(SchedulerConfig c) {
  c.enable_journey_tracing = true;
  return c;
}

void add(Scheduler& s, const EngineCoreRequest& r) {
  const auto ok = s.add_request(r);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
}

// Every journey event of every client, in order, as a step hands them out.
std::vector<RequestJourneyEvent> events_of(const StepOutputs& outputs) {
  std::vector<RequestJourneyEvent> all;
  for (const auto& batch : outputs) {
    if (batch.journey_events) {
      all.insert(all.end(), batch.journey_events->begin(), batch.journey_events->end());
    }
  }
  return all;
}

std::vector<Type> types_of(const std::vector<RequestJourneyEvent>& events, const std::string& id) {
  std::vector<Type> types;
  for (const auto& e : events) {
    if (e.request_id == id) types.push_back(e.event_type);
  }
  return types;
}

// Steps with the synthetic executor until nothing is left, collecting events.
std::vector<RequestJourneyEvent> run_to_completion(Scheduler& s, ManualClock& clock,
                                                   SyntheticExecutor& exec, int max_steps = 1000) {
  std::vector<RequestJourneyEvent> all;
  for (int i = 0; i < max_steps && s.has_unfinished_requests(); ++i) {
    clock.advance_ns(1000);
    const auto& step = s.schedule();
    const auto result = exec.execute_model(step);
    clock.advance_ns(1000);
    const auto events = events_of(s.update_from_output(step, result));
    all.insert(all.end(), events.begin(), events.end());
  }
  return all;
}

TEST(JourneyTracer, ALifeFromQueuedToFinishedWithFullSnapshots) {
  ManualClock clock;
  clock.set_ns(5'000'000'000);
  Scheduler s(traced(small_config(4, 16, 32)), clock);
  add(s, make_request("a", token_run(1, 5), /*max_tokens=*/2));

  clock.set_ns(5'000'001'000);
  const auto& s1 = s.schedule();
  clock.set_ns(5'000'002'000);
  const auto e1 = events_of(s.update_from_output(s1, answer(s1, {{"a", {100}}})));
  ASSERT_EQ(e1.size(), 3u);

  const RequestJourneyEvent& queued = e1[0];
  EXPECT_EQ(queued.event_type, Type::QUEUED);
  EXPECT_EQ(queued.request_id, "a");
  EXPECT_EQ(queued.scheduler_step, 0u);  // added before the first step
  EXPECT_EQ(queued.ts_monotonic_ns, 5'000'000'000);
  EXPECT_DOUBLE_EQ(queued.ts_monotonic, 5.0);  // the same clock read
  EXPECT_EQ(queued.phase, RequestPhase::WAITING);
  EXPECT_EQ(queued.prefill_done_tokens, 0);
  EXPECT_EQ(queued.prefill_total_tokens, 5);
  EXPECT_EQ(queued.decode_done_tokens, 0);
  EXPECT_EQ(queued.decode_max_tokens, 2);
  EXPECT_FALSE(queued.schedule_kind);
  EXPECT_FALSE(queued.finish_status);

  const RequestJourneyEvent& scheduled = e1[1];
  EXPECT_EQ(scheduled.event_type, Type::SCHEDULED);
  EXPECT_EQ(scheduled.scheduler_step, 1u);
  EXPECT_EQ(scheduled.ts_monotonic_ns, 5'000'001'000);
  EXPECT_EQ(scheduled.phase, RequestPhase::PREFILL);
  EXPECT_EQ(scheduled.prefill_done_tokens, 0);
  EXPECT_EQ(scheduled.schedule_kind, ScheduleKind::FIRST);

  const RequestJourneyEvent& first = e1[2];
  EXPECT_EQ(first.event_type, Type::FIRST_TOKEN);
  EXPECT_EQ(first.scheduler_step, 1u);
  EXPECT_EQ(first.ts_monotonic_ns, 5'000'002'000);
  EXPECT_EQ(first.phase, RequestPhase::DECODE);
  EXPECT_EQ(first.prefill_done_tokens, 5);
  EXPECT_EQ(first.decode_done_tokens, 1);
  EXPECT_EQ(s.journey_live_states(), 1);

  const auto& s2 = s.schedule();
  const auto e2 = events_of(s.update_from_output(s2, answer(s2, {{"a", {101}}})));
  ASSERT_EQ(e2.size(), 1u);
  EXPECT_EQ(e2[0].event_type, Type::FINISHED);
  EXPECT_EQ(e2[0].finish_status, FinishStatus::LENGTH);
  EXPECT_EQ(e2[0].scheduler_step, 2u);
  EXPECT_EQ(e2[0].phase, RequestPhase::DECODE);
  EXPECT_EQ(e2[0].decode_done_tokens, 2);
  EXPECT_EQ(s.journey_live_states(), 0);
}

// Chunks of 4, no prefix caching (so a resume really starts from 0), 4
// usable blocks. Steps 1-2: a and b each prefill 8 tokens (2 blocks each, the
// pool is full) and a samples. Step 3: a needs a 3rd block, so b, the tail,
// is preempted mid-prefill at 8/12. Its high-water mark keeps the 8.
TEST(JourneyTracer, PrefillHighWaterMarkSurvivesPreemption) {
  ManualClock clock;
  SchedulerConfig cfg = traced(small_config(4, 5, 16));
  cfg.long_prefill_token_threshold = 4;
  cfg.enable_prefix_caching = false;
  Scheduler s(cfg, clock);
  SyntheticExecutor exec;
  add(s, make_request("a", token_run(1, 8), /*max_tokens=*/4));
  add(s, make_request("b", token_run(100, 12), /*max_tokens=*/2));
  const auto events = run_to_completion(s, clock, exec);

  // b is preempted twice: at 8/12, and again after recomputing only 4.
  EXPECT_THAT(types_of(events, "b"),
              ElementsAre(Type::QUEUED, Type::SCHEDULED, Type::PREEMPTED, Type::SCHEDULED,
                          Type::PREEMPTED, Type::SCHEDULED, Type::FIRST_TOKEN, Type::FINISHED));
  std::vector<RequestJourneyEvent> b;
  for (const auto& e : events) {
    if (e.request_id == "b") b.push_back(e);
  }
  ASSERT_EQ(b.size(), 8u);
  EXPECT_EQ(b[2].phase, RequestPhase::WAITING);
  EXPECT_EQ(b[2].prefill_done_tokens, 8);
  EXPECT_EQ(b[2].num_preemptions, 1);
  EXPECT_EQ(b[3].schedule_kind, ScheduleKind::RESUME);
  EXPECT_EQ(b[3].prefill_done_tokens, 8);  // not the 0 it recomputes from
  EXPECT_EQ(b[3].phase, RequestPhase::PREFILL);
  EXPECT_EQ(b[4].prefill_done_tokens, 8);  // not the 4 it had recomputed
  EXPECT_EQ(b[4].num_preemptions, 2);
  EXPECT_EQ(b[5].schedule_kind, ScheduleKind::RESUME);
  EXPECT_EQ(b[6].prefill_done_tokens, 12);
  EXPECT_EQ(b[6].phase, RequestPhase::DECODE);
  EXPECT_EQ(b[7].finish_status, FinishStatus::LENGTH);
  EXPECT_EQ(s.journey_live_states(), 0);
}

TEST(JourneyTracer, OffMeansNoEventListAtAll) {
  ManualClock clock;
  Scheduler s(small_config(4, 16, 32), clock);
  SyntheticExecutor exec;
  add(s, make_request("a", token_run(1, 5), 3));
  while (s.has_unfinished_requests()) {
    const auto& step = s.schedule();
    const StepOutputs& out = s.update_from_output(step, exec.execute_model(step));
    for (const auto& batch : out) EXPECT_FALSE(batch.journey_events.has_value());
  }
  EXPECT_FALSE(s.find_request("a"));
  EXPECT_EQ(s.journey_live_states(), 0);
}

TEST(JourneyTracer, TheFrontendsSamplingDecisionIsObeyed) {
  ManualClock clock;
  Scheduler s(traced(small_config(4, 32, 32)), clock);
  SyntheticExecutor exec;
  auto with_header = [](std::string id, const char* value) {
    auto r = make_request(std::move(id), token_run(1, 3), 2);
    r.trace_headers.emplace();
    (*r.trace_headers)[std::string(kJourneySampledHeader)] = value;
    return r;
  };
  add(s, with_header("yes", "1"));
  add(s, with_header("no", "0"));
  add(s, with_header("no-either", "false"));
  add(s, make_request("no-header", token_run(1, 3), 2));
  const auto events = run_to_completion(s, clock, exec);
  EXPECT_EQ(types_of(events, "yes").size(), 4u);
  EXPECT_THAT(types_of(events, "no"), IsEmpty());
  EXPECT_THAT(types_of(events, "no-either"), IsEmpty());
  EXPECT_EQ(types_of(events, "no-header").size(), 4u);
}

TEST(JourneyTracer, AbortOfAWaitingRequestEndsItsJourneyWithoutAStep) {
  ManualClock clock;
  Scheduler s(traced(small_config(4, 16, 32)), clock);
  add(s, make_request("a", token_run(1, 5), 4));
  EXPECT_EQ(s.journey_live_states(), 1);
  const std::vector<std::string> ids{"a"};
  s.abort_requests(ids);
  ASSERT_TRUE(s.has_pending_outputs());
  const auto events = events_of(s.take_pending_outputs());
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].event_type, Type::QUEUED);
  EXPECT_EQ(events[1].event_type, Type::FINISHED);
  EXPECT_EQ(events[1].finish_status, FinishStatus::ABORTED);
  EXPECT_EQ(events[1].phase, RequestPhase::WAITING);
  EXPECT_EQ(s.journey_live_states(), 0);
}

TEST(JourneyTracer, EachClientHearsOnlyItsOwnRequestsAndEveryStepFlushes) {
  ManualClock clock;
  Scheduler s(traced(small_config(4, 32, 32)), clock);
  auto r0 = make_request("zero", token_run(1, 3), 3);
  auto r1 = make_request("one", token_run(50, 9), 3);
  r1.client_index = 1;
  add(s, r0);
  add(s, r1);
  const auto& s1 = s.schedule();
  // Only "zero" samples: "one"'s chunk is (say) partial, so client 1 gets no
  // output this step, yet its journey events still go out.
  const StepOutputs& out = s.update_from_output(s1, answer(s1, {{"zero", {7}}}));
  ASSERT_EQ(out.size(), 2u);
  ASSERT_TRUE(out[0].journey_events && out[1].journey_events);
  EXPECT_THAT(types_of(*out[0].journey_events, "zero"),
              ElementsAre(Type::QUEUED, Type::SCHEDULED, Type::FIRST_TOKEN));
  EXPECT_THAT(types_of(*out[0].journey_events, "one"), IsEmpty());
  EXPECT_THAT(types_of(*out[1].journey_events, "one"), ElementsAre(Type::QUEUED, Type::SCHEDULED));
  EXPECT_THAT(out[1].outputs, IsEmpty());

  // Nothing happens to anyone next step but decode tokens: empty lists.
  const auto& s2 = s.schedule();
  const StepOutputs& out2 = s.update_from_output(s2, answer(s2, {{"zero", {8}}}));
  EXPECT_THAT(*out2[0].journey_events, IsEmpty());
  EXPECT_THAT(*out2[1].journey_events, IsEmpty());
}

// The invariants the end-to-end test checks on a real server, here over
// thousands of requests under heavy preemption and random aborts.
TEST(JourneyTracer, InvariantsHoldUnderPreemptionAndAborts) {
  ManualClock clock;
  SchedulerConfig cfg = traced(small_config(4, 40, 64, /*max_num_batched_tokens=*/64,
                                            /*max_num_seqs=*/24));
  cfg.long_prefill_token_threshold = 16;
  Scheduler s(cfg, clock);
  SyntheticExecutor exec({.vocab_size = 1000, .eos_token_id = 3, .eos_probability = 0.02,
                          .seed = 7});
  std::mt19937_64 rng(42);
  std::vector<RequestJourneyEvent> events;
  std::vector<std::string> live;
  int next = 0;
  constexpr int kRequests = 3000;
  while (next < kRequests || s.has_unfinished_requests()) {
    while (next < kRequests && s.num_waiting() < 16) {
      const int len = 1 + static_cast<int>(rng() % 40);
      auto r = make_request("r" + std::to_string(next++), token_run(static_cast<TokenId>(rng() % 500), len),
                            1 + static_cast<int32_t>(rng() % 20));
      r.client_index = static_cast<int32_t>(rng() % 3);
      ASSERT_TRUE(s.add_request(r).ok());
      live.push_back(r.request_id);
    }
    if (rng() % 2 == 0 && !live.empty()) {
      const std::vector<std::string> victim{live[rng() % live.size()]};
      s.abort_requests(victim);
    }
    clock.advance_ns(1 + static_cast<int64_t>(rng() % 1000));
    const auto& step = s.schedule();
    const auto result = exec.execute_model(step);
    clock.advance_ns(1 + static_cast<int64_t>(rng() % 1000));
    const auto batch = events_of(s.update_from_output(step, result));
    events.insert(events.end(), batch.begin(), batch.end());
  }
  EXPECT_EQ(s.journey_live_states(), 0);

  std::map<std::string, std::vector<RequestJourneyEvent>> by_id;
  for (const auto& e : events) by_id[e.request_id].push_back(e);
  ASSERT_EQ(by_id.size(), static_cast<size_t>(kRequests));
  int preempted = 0;
  int aborted = 0;
  for (const auto& [id, journey] : by_id) {
    SCOPED_TRACE(id);
    ASSERT_GE(journey.size(), 2u);
    EXPECT_EQ(journey.front().event_type, Type::QUEUED);
    EXPECT_EQ(journey.back().event_type, Type::FINISHED);
    int finished = 0, first_tokens = 0, scheduled = 0;
    for (size_t i = 0; i < journey.size(); ++i) {
      const auto& e = journey[i];
      if (i > 0) {
        EXPECT_GE(e.ts_monotonic_ns, journey[i - 1].ts_monotonic_ns);
        EXPECT_GE(e.scheduler_step, journey[i - 1].scheduler_step);
        EXPECT_GE(e.prefill_done_tokens, journey[i - 1].prefill_done_tokens);
      }
      finished += e.event_type == Type::FINISHED;
      first_tokens += e.event_type == Type::FIRST_TOKEN;
      if (e.event_type == Type::SCHEDULED) {
        // FIRST once, then RESUME after each preemption.
        EXPECT_EQ(e.schedule_kind, scheduled == 0 ? ScheduleKind::FIRST : ScheduleKind::RESUME);
        EXPECT_EQ(journey[i - 1].event_type, scheduled == 0 ? Type::QUEUED : Type::PREEMPTED);
        ++scheduled;
      }
      if (e.event_type == Type::PREEMPTED) {
        ++preempted;
        EXPECT_EQ(e.num_preemptions, scheduled);
      }
    }
    EXPECT_EQ(finished, 1);
    if (journey.back().finish_status == FinishStatus::ABORTED) {
      ++aborted;
      EXPECT_LE(first_tokens, 1);
    } else {
      EXPECT_EQ(first_tokens, 1);
    }
  }
  EXPECT_GT(preempted, 50);  // the scenario really exercises preemption
  EXPECT_GT(aborted, 50);
}

}  // namespace
}  // namespace waypoint
