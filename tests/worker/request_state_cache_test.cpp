#include <gtest/gtest.h>

#include "worker/request_state_cache.hpp"

namespace waypoint {
namespace {

constexpr int32_t kBlock = 4;

NewRequestData new_req(std::string id, std::vector<TokenId> prompt, std::vector<BlockId> blocks,
                       int32_t computed, int32_t scheduled) {
  NewRequestData d;
  d.request_id = std::move(id);
  d.prompt_token_ids = std::move(prompt);
  d.block_ids = std::move(blocks);
  d.num_computed_tokens = computed;
  d.num_scheduled_tokens = scheduled;
  return d;
}

CachedRequestData cached_req(std::string id, std::vector<TokenId> new_tokens,
                             std::vector<BlockId> new_blocks, int32_t computed, int32_t scheduled,
                             bool resumed = false) {
  CachedRequestData d;
  d.request_id = std::move(id);
  d.new_token_ids = std::move(new_tokens);
  d.new_block_ids = std::move(new_blocks);
  d.num_computed_tokens = computed;
  d.num_scheduled_tokens = scheduled;
  d.resumed_from_preemption = resumed;
  return d;
}

TEST(RequestStateCache, NewRequestPrefillLaysOutTokensPositionsAndSlots) {
  RequestStateCache cache(kBlock);
  SchedulerOutput step;
  step.scheduler_step = 1;
  // A 6-token prompt whose first block (4 tokens) is a prefix-cache hit.
  step.scheduled_new_reqs.push_back(new_req("a", {10, 11, 12, 13, 14, 15}, {7, 3}, 4, 2));
  step.total_num_scheduled_tokens = 2;
  StepBatch batch;
  ASSERT_TRUE(cache.apply(step, batch).ok());
  EXPECT_EQ(batch.input_ids, (std::vector<TokenId>{14, 15}));
  EXPECT_EQ(batch.positions, (std::vector<int64_t>{4, 5}));
  EXPECT_EQ(batch.slot_mapping, (std::vector<int64_t>{3 * kBlock + 0, 3 * kBlock + 1}));
  EXPECT_EQ(batch.query_start, (std::vector<int32_t>{0, 2}));
  EXPECT_EQ(batch.context_lens, (std::vector<int32_t>{6}));
  EXPECT_EQ(batch.samples, (std::vector<uint8_t>{1}));
}

TEST(RequestStateCache, PartialChunkDoesNotSampleAndDecodeAppendsDiffs) {
  RequestStateCache cache(kBlock);
  StepBatch batch;
  SchedulerOutput s1;
  s1.scheduler_step = 1;
  s1.scheduled_new_reqs.push_back(new_req("a", {1, 2, 3, 4, 5}, {2}, 0, 3));
  s1.total_num_scheduled_tokens = 3;
  ASSERT_TRUE(cache.apply(s1, batch).ok());
  EXPECT_EQ(batch.samples, (std::vector<uint8_t>{0}));

  SchedulerOutput s2;
  s2.scheduler_step = 2;
  s2.scheduled_cached_reqs.push_back(cached_req("a", {}, {6}, 3, 2));
  s2.total_num_scheduled_tokens = 2;
  ASSERT_TRUE(cache.apply(s2, batch).ok());
  EXPECT_EQ(batch.input_ids, (std::vector<TokenId>{4, 5}));
  EXPECT_EQ(batch.slot_mapping, (std::vector<int64_t>{2 * kBlock + 3, 6 * kBlock + 0}));
  EXPECT_EQ(batch.samples, (std::vector<uint8_t>{1}));

  // The core sends back the sampled token; the worker feeds it next step.
  SchedulerOutput s3;
  s3.scheduler_step = 3;
  s3.scheduled_cached_reqs.push_back(cached_req("a", {99}, {}, 5, 1));
  s3.total_num_scheduled_tokens = 1;
  ASSERT_TRUE(cache.apply(s3, batch).ok());
  EXPECT_EQ(batch.input_ids, (std::vector<TokenId>{99}));
  EXPECT_EQ(batch.positions, (std::vector<int64_t>{5}));
  EXPECT_EQ(cache.find("a")->block_ids, (std::vector<BlockId>{2, 6}));
}

TEST(RequestStateCache, ResumedRequestReplacesItsBlockTable) {
  RequestStateCache cache(kBlock);
  StepBatch batch;
  SchedulerOutput s1;
  s1.scheduler_step = 1;
  s1.scheduled_new_reqs.push_back(new_req("a", {1, 2, 3}, {5}, 0, 3));
  s1.total_num_scheduled_tokens = 3;
  ASSERT_TRUE(cache.apply(s1, batch).ok());

  SchedulerOutput s2;  // preempted: the worker keeps its state
  s2.scheduler_step = 2;
  s2.preempted_req_ids = {"a"};
  ASSERT_TRUE(cache.apply(s2, batch).ok());
  EXPECT_EQ(batch.num_requests(), 0u);
  ASSERT_NE(cache.find("a"), nullptr);

  SchedulerOutput s3;  // resumed: recompute prompt plus the sampled token into new blocks
  s3.scheduler_step = 3;
  s3.scheduled_cached_reqs.push_back(cached_req("a", {42}, {8}, 0, 4, /*resumed=*/true));
  s3.total_num_scheduled_tokens = 4;
  ASSERT_TRUE(cache.apply(s3, batch).ok());
  EXPECT_EQ(batch.input_ids, (std::vector<TokenId>{1, 2, 3, 42}));
  EXPECT_EQ(cache.find("a")->block_ids, (std::vector<BlockId>{8}));
}

TEST(RequestStateCache, FinishedRequestsAreDropped) {
  RequestStateCache cache(kBlock);
  StepBatch batch;
  SchedulerOutput s1;
  s1.scheduler_step = 1;
  s1.scheduled_new_reqs.push_back(new_req("a", {1}, {1}, 0, 1));
  s1.total_num_scheduled_tokens = 1;
  ASSERT_TRUE(cache.apply(s1, batch).ok());
  SchedulerOutput s2;
  s2.scheduler_step = 2;
  s2.finished_req_ids = {"a", "never-seen"};
  ASSERT_TRUE(cache.apply(s2, batch).ok());
  EXPECT_EQ(cache.size(), 0u);
}

TEST(RequestStateCache, RefusesStepsAWorkerMustNotRun) {
  StepBatch batch;
  {
    RequestStateCache cache(kBlock);
    SchedulerOutput s;
    s.scheduled_cached_reqs.push_back(cached_req("ghost", {}, {}, 0, 1));
    s.total_num_scheduled_tokens = 1;
    auto r = cache.apply(s, batch);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("unknown request ghost"), std::string::npos);
  }
  {
    RequestStateCache cache(kBlock);
    SchedulerOutput s;  // 5 tokens but one 4-slot block
    s.scheduled_new_reqs.push_back(new_req("a", {1, 2, 3, 4, 5}, {1}, 0, 5));
    s.total_num_scheduled_tokens = 5;
    auto r = cache.apply(s, batch);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("blocks for 5 tokens"), std::string::npos);
  }
  {
    RequestStateCache cache(kBlock);
    SchedulerOutput s;  // past the known tokens
    s.scheduled_new_reqs.push_back(new_req("a", {1, 2}, {1}, 1, 2));
    s.total_num_scheduled_tokens = 2;
    EXPECT_FALSE(cache.apply(s, batch).ok());
  }
  {
    RequestStateCache cache(kBlock);
    SchedulerOutput s;  // totals disagree
    s.scheduled_new_reqs.push_back(new_req("a", {1, 2}, {1}, 0, 2));
    s.total_num_scheduled_tokens = 3;
    EXPECT_FALSE(cache.apply(s, batch).ok());
  }
}

}  // namespace
}  // namespace waypoint
