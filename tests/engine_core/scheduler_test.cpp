// Scheduler: vLLM V1 scheduling semantics (docs/architecture.md, "Scheduler and KV cache") and the
// step counter (§5). Every scenario uses block_size 4 and tiny pools so that block ids, budgets and
// preemptions can be worked out by hand; the numbers in the comments are that working.
#include "engine_core/scheduler.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine_core/clock.hpp"
#include "perf/synthetic_executor.hpp"
#include "scheduler_test_util.hpp"

namespace waypoint {
namespace {

using test::all_outputs;
using test::answer;
using test::cached_ids;
using test::concat;
using test::find_cached;
using test::find_new;
using test::make_request;
using test::new_ids;
using test::outputs_for_id;
using test::small_config;
using test::token_run;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr TokenId kEos = 2;

void add(Scheduler& s, const EngineCoreRequest& r) {
  const auto ok = s.add_request(r);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
}

// One step answered by the SyntheticExecutor.
struct Stepped {
  SchedulerOutput step;
  StepOutputs outputs;
};
Stepped run_step(Scheduler& s, SyntheticExecutor& exec) {
  Stepped r;
  r.step = s.schedule();
  r.outputs = s.update_from_output(r.step, exec.execute_model(r.step));
  return r;
}

// ---------------------------------------------------------------- step counter

TEST(Scheduler, StepCounterStartsAtOneAndAdvancesOnEveryCall) {
  ManualClock clock;
  Scheduler s(small_config(4, 10, 32), clock);
  EXPECT_EQ(s.scheduler_step(), 0u);

  const auto s1 = s.schedule();
  EXPECT_EQ(s1.scheduler_step, 1u);
  EXPECT_TRUE(s1.empty());
  // An idle engine still ticks the scheduler; the counter still advances.
  EXPECT_EQ(s.schedule().scheduler_step, 2u);

  add(s, make_request("a", token_run(10, 3), 1));
  const auto s3 = s.schedule();
  EXPECT_EQ(s3.scheduler_step, 3u);
  EXPECT_FALSE(s3.empty());
  s.update_from_output(s3, answer(s3, {{"a", {100}}}));
  ASSERT_FALSE(s.has_unfinished_requests());

  // A prefix-cache reset is not a restart: the counter carries on.
  ASSERT_TRUE(s.reset_prefix_cache());
  const auto s4 = s.schedule();
  EXPECT_EQ(s4.scheduler_step, 4u);
  EXPECT_EQ(s.scheduler_step(), 4u);
  EXPECT_EQ(s.make_stats().scheduler_step, 4u);
}

TEST(Scheduler, ModelOutputForAnOlderStepIsRejected) {
  ManualClock clock;
  Scheduler s(small_config(4, 10, 32), clock);
  const auto s1 = s.schedule();
  const auto s2 = s.schedule();
  EXPECT_THROW(s.update_from_output(s1, answer(s1)), std::invalid_argument);
  auto stale = answer(s2);
  stale.scheduler_step = 1;
  EXPECT_THROW(s.update_from_output(s2, stale), std::invalid_argument);
}

// ---------------------------------------------------------------- budgets

TEST(Scheduler, TokenBudgetBoundsEachStep) {
  ManualClock clock;
  Scheduler s(small_config(4, 20, 32, /*max_num_batched_tokens=*/8), clock);
  add(s, make_request("a", token_run(10, 5)));
  add(s, make_request("b", token_run(100, 5)));

  // 8 tokens: all 5 of a, then the 3 left for b (chunked).
  const auto s1 = s.schedule();
  EXPECT_EQ(s1.total_num_scheduled_tokens, 8);
  ASSERT_THAT(new_ids(s1), ElementsAre("a", "b"));
  EXPECT_EQ(s1.scheduled_new_reqs[0].num_scheduled_tokens, 5);
  EXPECT_EQ(s1.scheduled_new_reqs[1].num_scheduled_tokens, 3);
  s.update_from_output(s1, answer(s1, {{"a", {500}}}));

  // a decodes 1, b finishes its prompt with the remaining 2.
  const auto s2 = s.schedule();
  EXPECT_EQ(s2.total_num_scheduled_tokens, 3);
  ASSERT_THAT(cached_ids(s2), ElementsAre("a", "b"));
  EXPECT_EQ(s2.scheduled_cached_reqs[0].num_scheduled_tokens, 1);
  EXPECT_EQ(s2.scheduled_cached_reqs[1].num_computed_tokens, 3);
  EXPECT_EQ(s2.scheduled_cached_reqs[1].num_scheduled_tokens, 2);
}

TEST(Scheduler, RunningRequestsAreServedBeforeWaitingOnes) {
  ManualClock clock;
  Scheduler s(small_config(4, 20, 32, /*max_num_batched_tokens=*/4), clock);
  add(s, make_request("a", token_run(10, 3)));
  const auto s1 = s.schedule();
  s.update_from_output(s1, answer(s1, {{"a", {500}}}));

  add(s, make_request("b", token_run(100, 10)));
  add(s, make_request("c", token_run(200, 2)));
  // a's decode token comes out of the budget first; b, the oldest waiting
  // request, gets the other 3; c gets nothing.
  const auto s2 = s.schedule();
  EXPECT_THAT(cached_ids(s2), ElementsAre("a"));
  EXPECT_EQ(s2.scheduled_cached_reqs[0].num_scheduled_tokens, 1);
  ASSERT_THAT(new_ids(s2), ElementsAre("b"));
  EXPECT_EQ(s2.scheduled_new_reqs[0].num_scheduled_tokens, 3);
  EXPECT_EQ(s2.total_num_scheduled_tokens, 4);
  EXPECT_EQ(s.num_waiting(), 1);
}

TEST(Scheduler, MaxNumSeqsBoundsTheRunningSet) {
  ManualClock clock;
  Scheduler s(small_config(4, 20, 32, 1024, /*max_num_seqs=*/2), clock);
  add(s, make_request("a", token_run(10, 2), /*max_tokens=*/1));
  add(s, make_request("b", token_run(20, 2)));
  add(s, make_request("c", token_run(30, 2)));

  const auto s1 = s.schedule();
  EXPECT_THAT(new_ids(s1), ElementsAre("a", "b"));
  EXPECT_EQ(s.num_running(), 2);
  EXPECT_EQ(s.num_waiting(), 1);
  s.update_from_output(s1, answer(s1, {{"a", {500}}, {"b", {600}}}));  // a finishes

  // a's seat is free again: c gets in.
  const auto s2 = s.schedule();
  EXPECT_THAT(new_ids(s2), ElementsAre("c"));
  EXPECT_THAT(cached_ids(s2), ElementsAre("b"));
  EXPECT_EQ(s.num_running(), 2);
  EXPECT_EQ(s.num_waiting(), 0);
}

// ---------------------------------------------------------------- chunked prefill

TEST(Scheduler, ChunkedPrefillSplitsAPromptAndOnlyTheLastChunkSamples) {
  ManualClock clock;
  Scheduler s(small_config(4, 20, 32, /*max_num_batched_tokens=*/4), clock);
  SyntheticExecutor exec;
  add(s, make_request("a", token_run(10, 10), 5));

  auto r1 = run_step(s, exec);
  const NewRequestData* n1 = find_new(r1.step, "a");
  ASSERT_NE(n1, nullptr);
  EXPECT_EQ(n1->num_computed_tokens, 0);
  EXPECT_EQ(n1->num_scheduled_tokens, 4);
  EXPECT_THAT(n1->block_ids, ElementsAre(1));
  EXPECT_THAT(all_outputs(r1.outputs), IsEmpty());  // no logits for a partial prompt
  EXPECT_EQ(s.find_request("a")->num_computed_tokens, 4);

  auto r2 = run_step(s, exec);
  const CachedRequestData* c2 = find_cached(r2.step, "a");
  ASSERT_NE(c2, nullptr);
  EXPECT_EQ(c2->num_computed_tokens, 4);
  EXPECT_EQ(c2->num_scheduled_tokens, 4);
  EXPECT_THAT(c2->new_token_ids, IsEmpty());
  EXPECT_THAT(c2->new_block_ids, ElementsAre(2));
  EXPECT_THAT(all_outputs(r2.outputs), IsEmpty());

  auto r3 = run_step(s, exec);
  const CachedRequestData* c3 = find_cached(r3.step, "a");
  ASSERT_NE(c3, nullptr);
  EXPECT_EQ(c3->num_computed_tokens, 8);
  EXPECT_EQ(c3->num_scheduled_tokens, 2);
  EXPECT_THAT(c3->new_block_ids, ElementsAre(3));
  const auto out = outputs_for_id(r3.outputs, "a");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].new_token_ids.size(), 1u);
  EXPECT_FALSE(out[0].finished());
  EXPECT_EQ(s.find_request("a")->num_output_tokens(), 1);
}

TEST(Scheduler, LongPrefillTokenThresholdCapsEachChunk) {
  ManualClock clock;
  SchedulerConfig cfg = small_config(4, 20, 32, /*max_num_batched_tokens=*/100);
  cfg.long_prefill_token_threshold = 3;
  Scheduler s(cfg, clock);
  SyntheticExecutor exec;
  add(s, make_request("long", token_run(10, 7), 5));
  add(s, make_request("short", token_run(50, 2), 5));

  // Budget is plentiful; the threshold alone splits 7 into 3 + 3 + 1, while
  // the 2-token prompt is under it and goes whole.
  auto r1 = run_step(s, exec);
  EXPECT_EQ(find_new(r1.step, "long")->num_scheduled_tokens, 3);
  EXPECT_EQ(find_new(r1.step, "short")->num_scheduled_tokens, 2);
  EXPECT_EQ(r1.step.total_num_scheduled_tokens, 5);
  auto r2 = run_step(s, exec);
  EXPECT_EQ(find_cached(r2.step, "long")->num_scheduled_tokens, 3);
  auto r3 = run_step(s, exec);
  EXPECT_EQ(find_cached(r3.step, "long")->num_scheduled_tokens, 1);
  EXPECT_EQ(outputs_for_id(r3.outputs, "long").size(), 1u);
  auto r4 = run_step(s, exec);
  EXPECT_EQ(find_cached(r4.step, "long")->num_scheduled_tokens, 1);  // a decode
}

// ---------------------------------------------------------------- prefix caching

TEST(Scheduler, PrefixCacheHitIsSkippedAndReportedAsCachedTokens) {
  ManualClock clock;
  Scheduler s(small_config(4, 10, 32), clock);
  add(s, make_request("a", token_run(1, 10)));
  const auto s1 = s.schedule();
  ASSERT_THAT(find_new(s1, "a")->block_ids, ElementsAre(1, 2, 3));
  const auto o1 = s.update_from_output(s1, answer(s1, {{"a", {500}}}));
  EXPECT_EQ(outputs_for_id(o1, "a").at(0).num_cached_tokens, 0);

  // b shares a's two full blocks (tokens 1..8), then differs.
  add(s, make_request("b", concat(token_run(1, 8), {20, 21, 22})));
  const auto s2 = s.schedule();
  const NewRequestData* b = find_new(s2, "b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->num_computed_tokens, 8);
  EXPECT_EQ(b->num_scheduled_tokens, 3);
  EXPECT_THAT(b->block_ids, ElementsAre(1, 2, 4));  // hits first, then one new block
  EXPECT_EQ(s2.total_num_scheduled_tokens, 1 + 3);

  const auto o2 = s.update_from_output(s2, answer(s2, {{"a", {501}}, {"b", {600}}}));
  EXPECT_EQ(outputs_for_id(o2, "b").at(0).num_cached_tokens, 8);
  EXPECT_EQ(outputs_for_id(o2, "a").at(0).num_cached_tokens, 0);

  const auto stats = s.make_stats();
  EXPECT_EQ(stats.prefix_cache_queries, 10 + 11);
  EXPECT_EQ(stats.prefix_cache_hits, 8);
}

TEST(Scheduler, PrefixCacheCountersStayZeroWhenCachingIsDisabled) {
  // vLLM's get_computed_blocks returns before recording any stats when
  // prefix caching is off: no lookup happened, so nothing is counted.
  ManualClock clock;
  SchedulerConfig cfg = small_config(4, 10, 32);
  cfg.enable_prefix_caching = false;
  Scheduler s(cfg, clock);
  add(s, make_request("a", token_run(1, 9)));
  const auto s1 = s.schedule();
  s.update_from_output(s1, answer(s1, {{"a", {500}}}));
  const auto stats = s.make_stats();
  EXPECT_EQ(stats.prefix_cache_queries, 0);
  EXPECT_EQ(stats.prefix_cache_hits, 0);
}

// ---------------------------------------------------------------- preemption

// FCFS, 2 usable blocks. Step 1 admits a (4 tokens, block 1) and b (3 tokens,
// block 2); both sample. Step 2: a's 5th token needs a second block and none
// is free, so the tail of the running list, b, is preempted.
struct FcfsPreemption {
  ManualClock clock;
  Scheduler s{small_config(4, 3, 8), clock};
  SchedulerOutput s2;

  void run_to_preemption() {
    add(s, make_request("a", token_run(1, 4), /*max_tokens=*/2));
    add(s, make_request("b", token_run(11, 3), /*max_tokens=*/4));
    const auto s1 = s.schedule();
    ASSERT_THAT(new_ids(s1), ElementsAre("a", "b"));
    s.update_from_output(s1, answer(s1, {{"a", {100}}, {"b", {200}}}));
    add(s, make_request("c", {31}, /*max_tokens=*/1));
    s2 = s.schedule();
  }
};

TEST(Scheduler, FcfsPreemptsTheTailOfTheRunningList) {
  FcfsPreemption f;
  ASSERT_NO_FATAL_FAILURE(f.run_to_preemption());
  auto& s = f.s;
  EXPECT_THAT(f.s2.preempted_req_ids, ElementsAre("b"));
  ASSERT_THAT(cached_ids(f.s2), ElementsAre("a"));
  EXPECT_THAT(f.s2.scheduled_cached_reqs[0].new_block_ids, ElementsAre(2));  // b's old block
  EXPECT_EQ(f.s2.total_num_scheduled_tokens, 1);
  EXPECT_THAT(new_ids(f.s2), IsEmpty());  // b heads the queue again, ahead of c

  const Request* b = s.find_request("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->status, RequestStatus::PREEMPTED);
  EXPECT_EQ(b->num_computed_tokens, 0);
  EXPECT_EQ(b->num_preemptions, 1);
  EXPECT_TRUE(b->kv_blocks.empty());
  EXPECT_EQ(b->num_output_tokens(), 1);  // recompute keeps what was sampled
  EXPECT_EQ(s.num_running(), 1);
  EXPECT_EQ(s.num_waiting(), 2);
  EXPECT_EQ(s.make_stats().num_preemptions, 1);
  EXPECT_EQ(s.make_stats().num_preemptions, 1);  // a running total, not a delta
}

TEST(Scheduler, FcfsPreemptedRequestResumesFirstWithItsWholeNewBlockTable) {
  FcfsPreemption f;
  ASSERT_NO_FATAL_FAILURE(f.run_to_preemption());
  auto& s = f.s;
  // a samples its 2nd token and finishes: blocks [1, 2] are freed last
  // first, so the free list is [2, 1].
  s.update_from_output(f.s2, answer(f.s2, {{"a", {101}}}));

  const auto s3 = s.schedule();
  EXPECT_THAT(s3.finished_req_ids, ElementsAre("a"));
  // b went back to the head of the queue, ahead of the older-queued c.
  ASSERT_EQ(s.running().size(), 2u);
  EXPECT_EQ(s.running()[0]->request_id, "b");
  EXPECT_EQ(s.running()[1]->request_id, "c");

  // b is known to the workers: a cached entry that replaces its block table.
  EXPECT_EQ(find_new(s3, "b"), nullptr);
  const CachedRequestData* b = find_cached(s3, "b");
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(b->resumed_from_preemption);
  EXPECT_THAT(b->new_block_ids, ElementsAre(2));
  EXPECT_THAT(b->new_token_ids, ElementsAre(200));  // sampled after it was last sent
  EXPECT_EQ(b->num_computed_tokens, 0);
  EXPECT_EQ(b->num_scheduled_tokens, 4);  // recompute prompt + output

  const NewRequestData* c = find_new(s3, "c");
  ASSERT_NE(c, nullptr);
  EXPECT_THAT(c->block_ids, ElementsAre(1));
  EXPECT_EQ(s3.total_num_scheduled_tokens, 5);

  // The next step is an ordinary decode again.
  s.update_from_output(s3, answer(s3, {{"b", {201}}, {"c", {300}}}));
  const auto s4 = s.schedule();
  const CachedRequestData* b4 = find_cached(s4, "b");
  ASSERT_NE(b4, nullptr);
  EXPECT_FALSE(b4->resumed_from_preemption);
  EXPECT_THAT(b4->new_token_ids, ElementsAre(201));
  EXPECT_THAT(b4->new_block_ids, ElementsAre(1));  // 5th token: c's freed block
}

// PRIORITY, 3 usable blocks. w (priority 1) is admitted alone in step 1, g
// (priority 0, 8 tokens, 2 blocks) in step 2, so running = [w, g] and the pool
// is full. In step 3 w's decode fits its block and is scheduled first; then
// g's 9th token (its first output) needs a third block, and the worst
// request, w, is the victim although it was already scheduled in this step.
TEST(Scheduler, PriorityPreemptsTheWorstRequestEvenIfAlreadyScheduled) {
  ManualClock clock;
  SchedulerConfig cfg = small_config(4, 4, 12);
  cfg.policy = SchedulingPolicy::PRIORITY;
  Scheduler s(cfg, clock);
  add(s, make_request("w", token_run(1, 2), 10, /*priority=*/1, /*arrival_time=*/1.0));
  const auto s1 = s.schedule();
  s.update_from_output(s1, answer(s1, {{"w", {100}}}));
  add(s, make_request("g", token_run(51, 8), 2, /*priority=*/0, /*arrival_time=*/2.0));
  const auto s2 = s.schedule();
  ASSERT_THAT(new_ids(s2), ElementsAre("g"));
  ASSERT_THAT(cached_ids(s2), ElementsAre("w"));
  s.update_from_output(s2, answer(s2, {{"w", {101}}, {"g", {600}}}));
  ASSERT_EQ(s.kv_cache().pool().num_free_blocks(), 0);

  const auto s3 = s.schedule();
  EXPECT_THAT(s3.preempted_req_ids, ElementsAre("w"));
  // w's scheduled token is handed back: only g's decode remains.
  EXPECT_THAT(cached_ids(s3), ElementsAre("g"));
  EXPECT_THAT(new_ids(s3), IsEmpty());
  EXPECT_EQ(s3.total_num_scheduled_tokens, 1);
  EXPECT_THAT(s3.scheduled_cached_reqs[0].new_block_ids, ElementsAre(1));  // w's block

  const Request* w = s.find_request("w");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->status, RequestStatus::PREEMPTED);
  EXPECT_EQ(w->num_computed_tokens, 0);
  EXPECT_EQ(w->num_preemptions, 1);
  // Step 3 entered w's now-full block [1, 2, 100, 101] in the prefix cache,
  // but its last token was never computed: the entry must be gone.
  ASSERT_EQ(w->block_hashes.size(), 1u);
  EXPECT_EQ(s.kv_cache().pool().cached_block(w->block_hashes[0]), nullptr);
  EXPECT_EQ(s.kv_cache().pool().num_cached_hashes(), 2u);  // g's prompt blocks only

  // g finishes (max_tokens 2); w resumes with a fresh block table.
  s.update_from_output(s3, answer(s3, {{"g", {601}}}));
  const auto s4 = s.schedule();
  EXPECT_THAT(s4.finished_req_ids, ElementsAre("g"));
  const CachedRequestData* w4 = find_cached(s4, "w");
  ASSERT_NE(w4, nullptr);
  EXPECT_TRUE(w4->resumed_from_preemption);
  EXPECT_THAT(w4->new_token_ids, ElementsAre(101));  // step 3 never sent it
  EXPECT_EQ(w4->new_block_ids.size(), 1u);
  EXPECT_EQ(w4->num_computed_tokens, 0);
  EXPECT_EQ(w4->num_scheduled_tokens, 4);
}

// PRIORITY, 3 usable blocks: a (priority 0, 1 block) and b (priority 2, 2
// blocks) fill the pool in step 1. c (priority 1, 1 token) arrives. In step 2
// a needs a block, b is preempted and frees 2, a takes 1; c would fit in the
// other and is the head of the waiting queue, but must wait a step.
TEST(Scheduler, NoWaitingRequestIsAdmittedInAStepThatPreempted) {
  ManualClock clock;
  SchedulerConfig cfg = small_config(4, 4, 12);
  cfg.policy = SchedulingPolicy::PRIORITY;
  Scheduler s(cfg, clock);
  add(s, make_request("a", token_run(1, 4), 10, 0, 1.0));
  add(s, make_request("b", token_run(11, 5), 10, 2, 2.0));
  const auto s1 = s.schedule();
  ASSERT_THAT(new_ids(s1), ElementsAre("a", "b"));
  s.update_from_output(s1, answer(s1, {{"a", {100}}, {"b", {200}}}));
  add(s, make_request("c", {31}, 10, 1, 3.0));

  const auto s2 = s.schedule();
  EXPECT_THAT(s2.preempted_req_ids, ElementsAre("b"));
  EXPECT_THAT(cached_ids(s2), ElementsAre("a"));
  EXPECT_THAT(new_ids(s2), IsEmpty());
  EXPECT_EQ(s.kv_cache().pool().num_free_blocks(), 1);
  EXPECT_EQ(s.num_waiting(), 2);
  s.update_from_output(s2, answer(s2, {{"a", {101}}}));

  // Now c (priority 1) is admitted ahead of b (priority 2); b still waits.
  const auto s3 = s.schedule();
  EXPECT_THAT(s3.preempted_req_ids, IsEmpty());
  EXPECT_THAT(new_ids(s3), ElementsAre("c"));
  EXPECT_EQ(find_cached(s3, "b"), nullptr);
  EXPECT_EQ(s.num_waiting(), 1);
}

// A running request with nothing to schedule (its last chunk came back
// without a token) is skipped. If the priority policy then picks it as the
// victim, nothing of this step's budget is its to give back: vLLM returns
// budget only for a victim in scheduled_running_reqs.
TEST(Scheduler, PriorityVictimSkippedThisStepReturnsNoBudget) {
  ManualClock clock;
  SchedulerConfig cfg = small_config(4, 4, 12);
  cfg.policy = SchedulingPolicy::PRIORITY;
  Scheduler s(cfg, clock);
  add(s, make_request("w", token_run(1, 4), 10, 1, 1.0));
  const auto s1 = s.schedule();
  s.update_from_output(s1, answer(s1));  // no token for w
  ASSERT_EQ(s.find_request("w")->num_computed_tokens, 4);
  add(s, make_request("g", token_run(51, 8), 10, 0, 2.0));
  const auto s2 = s.schedule();
  ASSERT_THAT(new_ids(s2), ElementsAre("g"));
  ASSERT_THAT(cached_ids(s2), IsEmpty());  // w has nothing to compute
  s.update_from_output(s2, answer(s2, {{"g", {600}}}));

  const auto s3 = s.schedule();
  EXPECT_THAT(s3.preempted_req_ids, ElementsAre("w"));
  EXPECT_THAT(cached_ids(s3), ElementsAre("g"));
  EXPECT_EQ(s3.total_num_scheduled_tokens, 1);
}

// ---------------------------------------------------------------- diffs to workers

TEST(Scheduler, RunningRequestDiffCarriesOnlyNewTokensAndBlocks) {
  ManualClock clock;
  Scheduler s(small_config(4, 10, 32), clock);
  add(s, make_request("a", {7, 8, 9}));

  const auto s1 = s.schedule();
  const NewRequestData* n = find_new(s1, "a");
  ASSERT_NE(n, nullptr);
  EXPECT_THAT(n->prompt_token_ids, ElementsAre(7, 8, 9));
  EXPECT_THAT(n->block_ids, ElementsAre(1));
  EXPECT_EQ(n->num_computed_tokens, 0);
  EXPECT_EQ(n->num_scheduled_tokens, 3);
  s.update_from_output(s1, answer(s1, {{"a", {100}}}));

  // 4 tokens still fit block 1: no new block.
  const auto s2 = s.schedule();
  EXPECT_THAT(new_ids(s2), IsEmpty());
  const CachedRequestData* c2 = find_cached(s2, "a");
  ASSERT_NE(c2, nullptr);
  EXPECT_FALSE(c2->resumed_from_preemption);
  EXPECT_THAT(c2->new_token_ids, ElementsAre(100));
  EXPECT_THAT(c2->new_block_ids, IsEmpty());
  EXPECT_EQ(c2->num_computed_tokens, 3);
  EXPECT_EQ(c2->num_scheduled_tokens, 1);
  s.update_from_output(s2, answer(s2, {{"a", {101}}}));

  // The 5th token opens block 2; only 101 is new to the worker.
  const auto s3 = s.schedule();
  const CachedRequestData* c3 = find_cached(s3, "a");
  ASSERT_NE(c3, nullptr);
  EXPECT_THAT(c3->new_token_ids, ElementsAre(101));
  EXPECT_THAT(c3->new_block_ids, ElementsAre(2));
  EXPECT_EQ(c3->num_computed_tokens, 4);
}

TEST(Scheduler, FinishedRequestsAreListedInTheNextStepOnly) {
  ManualClock clock;
  Scheduler s(small_config(4, 10, 32), clock);
  add(s, make_request("a", token_run(10, 8), 1));
  const auto s1 = s.schedule();
  const auto o1 = s.update_from_output(s1, answer(s1, {{"a", {100}}}));
  ASSERT_NE(test::batch_for(o1, 0), nullptr);
  EXPECT_THAT(test::batch_for(o1, 0)->finished_requests, ElementsAre("a"));
  EXPECT_EQ(s.kv_cache().pool().num_free_blocks(), 9);  // freed at once
  EXPECT_FALSE(s.has_unfinished_requests());

  const auto s2 = s.schedule();
  EXPECT_THAT(s2.finished_req_ids, ElementsAre("a"));
  const auto s3 = s.schedule();
  EXPECT_THAT(s3.finished_req_ids, IsEmpty());
}

// ---------------------------------------------------------------- stop conditions

// Feeds `a` one sampled token per step and returns every output it got.
std::vector<EngineCoreOutput> feed(Scheduler& s, const std::vector<TokenId>& tokens) {
  std::vector<EngineCoreOutput> got;
  for (TokenId t : tokens) {
    const auto step = s.schedule();
    const auto out = s.update_from_output(step, answer(step, {{"a", {t}}}));
    for (auto& o : outputs_for_id(out, "a")) got.push_back(o);
    if (!got.empty() && got.back().finished()) break;
  }
  return got;
}

SchedulerConfig stop_config(int32_t max_model_len = 32) {
  SchedulerConfig cfg = small_config(4, 10, max_model_len);
  cfg.eos_token_id = kEos;
  return cfg;
}

TEST(Scheduler, EosStopsWithoutAStopReason) {
  ManualClock clock;
  Scheduler s(stop_config(), clock);
  add(s, make_request("a", {10, 11, 12}, 10));
  const auto got = feed(s, {100, kEos, 101});
  ASSERT_EQ(got.size(), 2u);
  EXPECT_FALSE(got[0].finished());
  EXPECT_EQ(got[1].finish_reason, FinishReason::STOP);
  EXPECT_EQ(got[1].stop_reason, std::nullopt);
  EXPECT_THAT(got[1].new_token_ids, ElementsAre(kEos));  // EOS itself is delivered
  EXPECT_EQ(s.find_request("a"), nullptr);
}

TEST(Scheduler, IgnoreEosKeepsGenerating) {
  ManualClock clock;
  Scheduler s(stop_config(), clock);
  auto r = make_request("a", {10, 11, 12}, 10);
  r.sampling_params.ignore_eos = true;
  add(s, r);
  const auto got = feed(s, {kEos, kEos, 100});
  ASSERT_EQ(got.size(), 3u);
  for (const auto& o : got) EXPECT_FALSE(o.finished());
  EXPECT_EQ(s.find_request("a")->num_output_tokens(), 3);
}

TEST(Scheduler, NoEosConfiguredMeansNoEosStop) {
  ManualClock clock;
  Scheduler s(small_config(4, 10, 32), clock);
  add(s, make_request("a", {10, 11, 12}, 10));
  const auto got = feed(s, {kEos, 100});
  ASSERT_EQ(got.size(), 2u);
  EXPECT_FALSE(got[1].finished());
}

TEST(Scheduler, StopTokenIdStopsAndNamesTheToken) {
  ManualClock clock;
  Scheduler s(stop_config(), clock);
  auto r = make_request("a", {10, 11, 12}, 10);
  r.sampling_params.stop_token_ids = {300, 301};
  add(s, r);
  const auto got = feed(s, {100, 301, 102});
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].finish_reason, FinishReason::STOP);
  EXPECT_EQ(got[1].stop_reason, 301);
  EXPECT_THAT(got[1].new_token_ids, ElementsAre(301));
}

TEST(Scheduler, MaxTokensFinishesWithLength) {
  ManualClock clock;
  Scheduler s(stop_config(), clock);
  add(s, make_request("a", {10, 11, 12}, 2));
  const auto got = feed(s, {100, 101, 102});
  ASSERT_EQ(got.size(), 2u);
  EXPECT_FALSE(got[0].finished());
  EXPECT_EQ(got[1].finish_reason, FinishReason::LENGTH);
  EXPECT_EQ(got[1].stop_reason, std::nullopt);
}

TEST(Scheduler, MaxModelLenFinishesWithLength) {
  ManualClock clock;
  Scheduler s(stop_config(/*max_model_len=*/8), clock);
  // 6 prompt tokens leave room for 2 outputs, whatever max_tokens says.
  add(s, make_request("a", token_run(10, 6), 100));
  const auto got = feed(s, {100, 101, 102});
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].finish_reason, FinishReason::LENGTH);
}

TEST(Scheduler, MaxTokensDefaultsToTheRoomLeftByMaxModelLen) {
  ManualClock clock;
  Scheduler s(stop_config(/*max_model_len=*/8), clock);
  add(s, make_request("a", token_run(10, 5), std::nullopt));
  EXPECT_EQ(s.find_request("a")->max_tokens, 3);
  const auto got = feed(s, {100, 101, 102, 103});
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2].finish_reason, FinishReason::LENGTH);
}

TEST(Scheduler, MinTokensSuppressesEosAndStopTokens) {
  ManualClock clock;
  Scheduler s(stop_config(), clock);
  auto r = make_request("a", {10, 11, 12}, 10);
  r.sampling_params.min_tokens = 3;
  r.sampling_params.stop_token_ids = {300};
  add(s, r);
  // Outputs 1 and 2 are under min_tokens: EOS and the stop token are kept as
  // ordinary tokens. Output 3 reaches min_tokens, so EOS now stops.
  const auto got = feed(s, {kEos, 300, kEos, 100});
  ASSERT_EQ(got.size(), 3u);
  EXPECT_FALSE(got[0].finished());
  EXPECT_FALSE(got[1].finished());
  EXPECT_EQ(got[2].finish_reason, FinishReason::STOP);
  EXPECT_EQ(got[2].stop_reason, std::nullopt);
}

TEST(Scheduler, LengthWinsOverEosAndStopTokenOnTheSameToken) {
  {
    ManualClock clock;
    Scheduler s(stop_config(), clock);
    add(s, make_request("a", {10, 11, 12}, 1));
    const auto got = feed(s, {kEos});
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].finish_reason, FinishReason::LENGTH);
  }
  {
    ManualClock clock;
    Scheduler s(stop_config(), clock);
    auto r = make_request("a", {10, 11, 12}, 2);
    r.sampling_params.stop_token_ids = {300};
    add(s, r);
    const auto got = feed(s, {100, 300});
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[1].finish_reason, FinishReason::LENGTH);
    EXPECT_EQ(got[1].stop_reason, std::nullopt);
  }
}

// ---------------------------------------------------------------- abort

TEST(Scheduler, AbortOfAWaitingRequestIsDeliveredWithoutAStep) {
  ManualClock clock;
  clock.set_ns(1'500'000'000);
  Scheduler s(small_config(4, 10, 32), clock);
  auto r = make_request("a", token_run(10, 3));
  r.client_index = 3;
  add(s, r);
  add(s, make_request("b", token_run(20, 3)));
  const std::vector<std::string> ids{"a"};
  s.abort_requests(ids);
  EXPECT_EQ(s.num_waiting(), 1);
  EXPECT_EQ(s.find_request("a"), nullptr);

  ASSERT_TRUE(s.has_pending_outputs());
  const auto pending = s.take_pending_outputs();
  EXPECT_FALSE(s.has_pending_outputs());
  ASSERT_EQ(all_outputs(pending).size(), 1u);
  ASSERT_NE(test::batch_for(pending, 3), nullptr);  // to the client that sent it
  const auto& batch = *test::batch_for(pending, 3);
  ASSERT_EQ(batch.outputs.size(), 1u);
  EXPECT_EQ(batch.outputs[0].request_id, "a");
  EXPECT_EQ(batch.outputs[0].finish_reason, FinishReason::ABORT);
  EXPECT_THAT(batch.outputs[0].new_token_ids, IsEmpty());
  EXPECT_EQ(batch.outputs[0].num_cached_tokens, 0);
  EXPECT_THAT(batch.finished_requests, ElementsAre("a"));
  EXPECT_DOUBLE_EQ(batch.timestamp, 1.5);

  const auto s1 = s.schedule();
  EXPECT_THAT(new_ids(s1), ElementsAre("b"));
  EXPECT_THAT(s1.finished_req_ids, ElementsAre("a"));
  const auto o1 = s.update_from_output(s1, answer(s1, {{"b", {100}}}));
  EXPECT_THAT(outputs_for_id(o1, "a"), IsEmpty());  // taken already: not twice
}

TEST(Scheduler, AbortOfARunningRequestFreesItsBlocksAndReportsOnce) {
  ManualClock clock;
  Scheduler s(small_config(4, 10, 32), clock);
  add(s, make_request("a", token_run(10, 8)));
  const auto s1 = s.schedule();
  s.update_from_output(s1, answer(s1, {{"a", {100}}}));
  ASSERT_EQ(s.kv_cache().pool().num_free_blocks(), 7);

  const std::vector<std::string> ids{"a"};
  s.abort_requests(ids);
  EXPECT_EQ(s.num_running(), 0);
  EXPECT_EQ(s.kv_cache().pool().num_free_blocks(), 9);
  EXPECT_DOUBLE_EQ(s.kv_cache().usage(), 0.0);
  EXPECT_FALSE(s.has_unfinished_requests());

  const auto s2 = s.schedule();
  EXPECT_TRUE(s2.empty());
  EXPECT_THAT(s2.finished_req_ids, ElementsAre("a"));
  clock.set_ns(2'000'000'000);
  const auto o2 = s.update_from_output(s2, answer(s2));
  const auto a = outputs_for_id(o2, "a");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].finish_reason, FinishReason::ABORT);
  ASSERT_NE(test::batch_for(o2, 0), nullptr);
  EXPECT_THAT(test::batch_for(o2, 0)->finished_requests, ElementsAre("a"));
  EXPECT_DOUBLE_EQ(test::batch_for(o2, 0)->timestamp, 2.0);

  const auto s3 = s.schedule();
  EXPECT_THAT(all_outputs(s.update_from_output(s3, answer(s3))), IsEmpty());
}

TEST(Scheduler, AbortWhileTheStepRunsDropsItsTokens) {
  ManualClock clock;
  Scheduler s(small_config(4, 10, 32), clock);
  add(s, make_request("a", token_run(10, 3)));
  const auto s1 = s.schedule();
  const std::vector<std::string> ids{"a"};
  s.abort_requests(ids);
  // The worker still answers for a; the token must not reach the client.
  const auto o1 = s.update_from_output(s1, answer(s1, {{"a", {100}}}));
  const auto a = outputs_for_id(o1, "a");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].finish_reason, FinishReason::ABORT);
  EXPECT_THAT(a[0].new_token_ids, IsEmpty());
}

TEST(Scheduler, AbortOfUnknownOrRepeatedIdsDoesNothingMore) {
  ManualClock clock;
  Scheduler s(small_config(4, 10, 32), clock);
  add(s, make_request("a", token_run(10, 3), 1));
  const std::vector<std::string> unknown{"nope"};
  s.abort_requests(unknown);
  EXPECT_FALSE(s.has_pending_outputs());
  EXPECT_EQ(s.num_waiting(), 1);

  const std::vector<std::string> twice{"a", "a"};
  s.abort_requests(twice);
  const auto pending = s.take_pending_outputs();
  EXPECT_EQ(all_outputs(pending).size(), 1u);

  // An abort crossing a finish on the wire: the id is already gone.
  add(s, make_request("b", token_run(20, 3), 1));
  const auto s1 = s.schedule();
  s.update_from_output(s1, answer(s1, {{"b", {100}}}));
  const std::vector<std::string> finished{"b"};
  s.abort_requests(finished);
  EXPECT_FALSE(s.has_pending_outputs());
}

// ---------------------------------------------------------------- validation

TEST(Scheduler, AddRequestRejectsWhatCouldNeverRun) {
  ManualClock clock;
  Scheduler s(small_config(4, 10, 32), clock);
  add(s, make_request("dup", token_run(10, 3)));

  struct Case {
    const char* name;
    EngineCoreRequest request;
    const char* message;
  };
  std::vector<Case> cases;
  cases.push_back({"duplicate id", make_request("dup", token_run(10, 3)), "duplicate"});
  cases.push_back({"empty id", make_request("", token_run(10, 3)), "request_id"});
  cases.push_back({"empty prompt", make_request("e", {}), "at least one token"});
  cases.push_back(
      {"prompt == max_model_len", make_request("l", token_run(1, 32)), "max_model_len"});
  cases.push_back({"prompt > max_model_len", make_request("m", token_run(1, 40)), "max_model_len"});
  auto n2 = make_request("n", token_run(1, 3));
  n2.sampling_params.n = 2;
  cases.push_back({"n != 1", n2, "n must be 1"});
  cases.push_back({"max_tokens 0", make_request("t", token_run(1, 3), 0), "max_tokens"});
  auto cold = make_request("c", token_run(1, 3));
  cold.sampling_params.temperature = -0.5f;
  cases.push_back({"negative temperature", cold, "temperature"});

  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const auto r = s.add_request(c.request);
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(r.error().message, HasSubstr(c.message));
  }
  EXPECT_EQ(s.num_waiting(), 1);  // only the first "dup"

  // The boundaries themselves are accepted.
  add(s, make_request("longest", token_run(1, 31), 1));
  auto greedy = make_request("greedy", token_run(1, 3), 1);
  greedy.sampling_params.temperature = 0.0f;
  add(s, greedy);
}

TEST(Scheduler, ConstructorRejectsAPoolTooSmallForOneMaxModelLenRequest) {
  ManualClock clock;
  // 2048 tokens of block 16 need 128 blocks; 128 blocks leave 127 usable.
  SchedulerConfig cfg;
  cfg.block_size = 16;
  cfg.max_model_len = 2048;
  cfg.num_blocks = 128;
  try {
    Scheduler s(cfg, clock);
    ADD_FAILURE() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("--num-gpu-blocks-override"));
    EXPECT_THAT(e.what(), HasSubstr("--max-model-len"));
  }
  cfg.num_blocks = 129;
  EXPECT_NO_THROW({ Scheduler ok(cfg, clock); });
}

TEST(Scheduler, ConstructorNamesTheBadFlag) {
  ManualClock clock;
  SchedulerConfig cfg = small_config(4, 10, 32);
  cfg.max_num_batched_tokens = 0;
  try {
    Scheduler s(cfg, clock);
    ADD_FAILURE() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("--max-num-batched-tokens"));
  }
}

// ---------------------------------------------------------------- stats

// 4 usable blocks, at most 2 running. a (9 tokens, 3 blocks) runs alone in
// step 1; b shares a's first 8 tokens and takes the last block in step 2; c
// waits for a seat. a's 13th token (step 5) needs a 4th block: b, the tail,
// is preempted.
TEST(Scheduler, MakeStatsReportsGaugesAndRunningTotals) {
  ManualClock clock;
  Scheduler s(small_config(4, 5, 16, 1024, /*max_num_seqs=*/2), clock);
  SyntheticExecutor exec;
  add(s, make_request("a", token_run(1, 9), 100));
  run_step(s, exec);
  auto st = s.make_stats();
  EXPECT_EQ(st.num_running_reqs, 1);
  EXPECT_EQ(st.num_waiting_reqs, 0);
  EXPECT_DOUBLE_EQ(st.kv_cache_usage, 0.75);
  EXPECT_EQ(st.prefix_cache_queries, 9);
  EXPECT_EQ(st.prefix_cache_hits, 0);
  EXPECT_EQ(st.num_preemptions, 0);
  EXPECT_EQ(st.scheduler_step, 1u);

  add(s, make_request("b", concat(token_run(1, 8), {50}), 100));
  add(s, make_request("c", {200, 201}, 100));
  run_step(s, exec);
  st = s.make_stats();
  EXPECT_EQ(st.num_running_reqs, 2);
  EXPECT_EQ(st.num_waiting_reqs, 1);
  EXPECT_DOUBLE_EQ(st.kv_cache_usage, 1.0);
  EXPECT_EQ(st.prefix_cache_queries, 18);  // a's 9 and b's 9: a running total
  EXPECT_EQ(st.prefix_cache_hits, 8);
  EXPECT_EQ(st.scheduler_step, 2u);

  run_step(s, exec);
  run_step(s, exec);
  const auto r5 = run_step(s, exec);
  ASSERT_THAT(r5.step.preempted_req_ids, ElementsAre("b"));
  st = s.make_stats();
  EXPECT_EQ(st.num_running_reqs, 1);
  EXPECT_EQ(st.num_waiting_reqs, 2);
  EXPECT_DOUBLE_EQ(st.kv_cache_usage, 1.0);  // a now holds all 4
  EXPECT_EQ(st.prefix_cache_queries, 18);  // no lookups since
  EXPECT_EQ(st.prefix_cache_hits, 8);
  EXPECT_EQ(st.num_preemptions, 1);
  EXPECT_EQ(st.scheduler_step, 5u);
  EXPECT_EQ(s.make_stats().num_preemptions, 1);  // reading does not reset it
}

// ---------------------------------------------------------------- end to end

TEST(Scheduler, EveryRequestRunsToItsMaxTokensUnderPreemption) {
  ManualClock clock;
  Scheduler s(small_config(4, 9, 32, /*max_num_batched_tokens=*/16), clock);
  SyntheticExecutor exec;
  const std::map<std::string, int32_t> max_tokens{{"r0", 10}, {"r1", 7}, {"r2", 12},
                                                  {"r3", 5},  {"r4", 9}, {"r5", 11}};
  int32_t i = 0;
  for (const auto& [id, n] : max_tokens) {
    add(s, make_request(id, concat(token_run(1, 4), token_run(100 * (i + 1), 3 + i)), n));
    ++i;
  }
  std::map<std::string, int32_t> tokens;
  std::map<std::string, int32_t> finishes;
  int64_t preemptions = 0;
  for (int step = 0; step < 500 && s.has_unfinished_requests(); ++step) {
    const auto r = run_step(s, exec);
    for (const auto& o : all_outputs(r.outputs)) {
      tokens[o.request_id] += static_cast<int32_t>(o.new_token_ids.size());
      if (o.finished()) {
        ++finishes[o.request_id];
        EXPECT_EQ(o.finish_reason, FinishReason::LENGTH) << o.request_id;
      }
    }
    preemptions += s.make_stats().num_preemptions;
  }
  EXPECT_FALSE(s.has_unfinished_requests());
  for (const auto& [id, n] : max_tokens) {
    EXPECT_EQ(tokens[id], n) << id;
    EXPECT_EQ(finishes[id], 1) << id;
  }
  EXPECT_GT(preemptions, 0);  // 8 blocks for 6 requests of up to 6 blocks each
  EXPECT_EQ(s.kv_cache().pool().num_free_blocks(), 8);
  const auto last = s.schedule();
  EXPECT_TRUE(last.empty());
}

}  // namespace
}  // namespace waypoint
