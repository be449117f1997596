// KVCacheManager: prefix-cache lookups over chained block hashes, slot
// allocation, and freeing (vLLM V1's KVCacheManager), with block_size 4.
#include "engine_core/kv_cache_manager.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

#include "scheduler_test_util.hpp"

namespace waypoint {
namespace {

using test::block_ids_of;
using test::concat;
using test::free_list_ids;
using test::make_kv_request;
using test::token_run;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr int32_t kBlock = 4;

// Admits a request the way the scheduler does: look up the prefix, then
// allocate the rest of its tokens, and mark them computed (the step ran).
void admit_and_compute(KVCacheManager& kv, Request& r) {
  const auto hit = kv.find_cached_prefix(r);
  ASSERT_TRUE(kv.allocate_slots(r, r.num_tokens() - hit.num_tokens, &hit));
  r.num_computed_tokens = r.num_tokens();
}

TEST(KVCacheManager, SecondRequestHitsTheFirstRequestsFullBlocks) {
  KVCacheManager kv(10, kBlock, 32, true);
  Request a = make_kv_request("a", token_run(1, 10), kv);  // 2 full blocks + 2 tokens
  admit_and_compute(kv, a);
  ASSERT_THAT(block_ids_of(a.kv_blocks), ElementsAre(1, 2, 3));

  Request b = make_kv_request("b", concat(token_run(1, 8), {50, 51}), kv);
  const auto hit = kv.find_cached_prefix(b);
  ASSERT_EQ(hit.blocks.size(), 2u);
  EXPECT_EQ(hit.blocks[0], a.kv_blocks[0]);
  EXPECT_EQ(hit.blocks[1], a.kv_blocks[1]);
  EXPECT_EQ(hit.num_tokens, 8);

  ASSERT_TRUE(kv.allocate_slots(b, 2, &hit));
  // Hits first, then one new block for tokens 8..9.
  EXPECT_THAT(block_ids_of(b.kv_blocks), ElementsAre(1, 2, 4));
  EXPECT_EQ(a.kv_blocks[0]->ref_cnt, 2);
  EXPECT_EQ(a.kv_blocks[1]->ref_cnt, 2);
  EXPECT_EQ(a.kv_blocks[2]->ref_cnt, 1);  // a's partial block is not shareable
}

TEST(KVCacheManager, PartialBlockIsNeverAHit) {
  KVCacheManager kv(10, kBlock, 32, true);
  Request a = make_kv_request("a", token_run(1, 6), kv);  // 1 full block + 2
  admit_and_compute(kv, a);
  Request b = make_kv_request("b", token_run(1, 7), kv);  // shares a's 6 tokens
  const auto hit = kv.find_cached_prefix(b);
  EXPECT_EQ(hit.num_tokens, 4);
  EXPECT_EQ(hit.blocks.size(), 1u);
}

TEST(KVCacheManager, HitIsCappedAtNumTokensMinusOne) {
  KVCacheManager kv(10, kBlock, 32, true);
  Request a = make_kv_request("a", token_run(1, 8), kv);
  admit_and_compute(kv, a);
  ASSERT_EQ(kv.pool().num_cached_hashes(), 2u);

  // The same 8 tokens: both blocks are cached, but the last token must be
  // recomputed to produce logits, so only (8 - 1) / 4 = 1 block can hit.
  Request same = make_kv_request("same", token_run(1, 8), kv);
  const auto capped = kv.find_cached_prefix(same);
  EXPECT_EQ(capped.blocks.size(), 1u);
  EXPECT_EQ(capped.num_tokens, 4);

  // One token more and both blocks are usable.
  Request longer = make_kv_request("longer", token_run(1, 9), kv);
  const auto full = kv.find_cached_prefix(longer);
  EXPECT_EQ(full.blocks.size(), 2u);
  EXPECT_EQ(full.num_tokens, 8);
}

TEST(KVCacheManager, AllocateFailsWithoutChangesWhenThePoolIsShort) {
  KVCacheManager kv(4, kBlock, 16, true);  // 3 usable blocks
  Request a = make_kv_request("a", token_run(1, 8), kv);
  admit_and_compute(kv, a);  // 2 blocks
  (void)kv.take_prefix_cache_counters();
  ASSERT_EQ(kv.pool().num_free_blocks(), 1);

  Request b = make_kv_request("b", token_run(100, 8), kv);  // needs 2
  const auto hit = kv.find_cached_prefix(b);
  EXPECT_FALSE(kv.allocate_slots(b, 8, &hit));
  EXPECT_THAT(b.kv_blocks, IsEmpty());
  EXPECT_EQ(b.num_cached_blocks, 0);
  EXPECT_EQ(kv.pool().num_free_blocks(), 1);
  EXPECT_EQ(kv.pool().num_cached_hashes(), 2u);
  const auto counters = kv.take_prefix_cache_counters();
  EXPECT_EQ(counters.queries, 0);
  EXPECT_EQ(counters.hits, 0);
}

TEST(KVCacheManager, FreeHitBlocksDoNotCountAsRoomForNewBlocks) {
  KVCacheManager kv(4, kBlock, 16, true);  // 3 usable blocks
  Request a = make_kv_request("a", token_run(1, 8), kv);
  admit_and_compute(kv, a);
  kv.free(a);  // both blocks free but still cached
  ASSERT_EQ(kv.pool().num_free_blocks(), 3);
  ASSERT_EQ(kv.pool().num_cached_hashes(), 2u);
  (void)kv.take_prefix_cache_counters();

  // 13 tokens: 4 blocks, 2 of them hits. The hits sit in the free list, so
  // taking them leaves 1 free block for the 2 new ones: it must not fit,
  // although 3 free >= 2 new at first sight.
  Request c = make_kv_request("c", concat(token_run(1, 8), token_run(20, 5)), kv);
  const auto hit = kv.find_cached_prefix(c);
  ASSERT_EQ(hit.blocks.size(), 2u);
  EXPECT_FALSE(kv.allocate_slots(c, c.num_tokens() - hit.num_tokens, &hit));
  EXPECT_THAT(c.kv_blocks, IsEmpty());
  EXPECT_EQ(kv.pool().num_free_blocks(), 3);
  for (const KVCacheBlock* b : hit.blocks) {
    EXPECT_EQ(b->ref_cnt, 0);
    EXPECT_TRUE(kv.pool().free_queue().contains(b));
  }
  EXPECT_EQ(kv.pool().num_cached_hashes(), 2u);
  EXPECT_EQ(kv.take_prefix_cache_counters().queries, 0);

  // 12 tokens: 3 blocks, 2 hits, 1 new: exactly fits.
  Request d = make_kv_request("d", concat(token_run(1, 8), token_run(20, 4)), kv);
  const auto hit_d = kv.find_cached_prefix(d);
  ASSERT_EQ(hit_d.blocks.size(), 2u);
  EXPECT_TRUE(kv.allocate_slots(d, d.num_tokens() - hit_d.num_tokens, &hit_d));
  EXPECT_EQ(kv.pool().num_free_blocks(), 0);
  EXPECT_EQ(d.kv_blocks.size(), 3u);
}

TEST(KVCacheManager, AllocationIsCappedAtMaxModelLen) {
  KVCacheManager kv(10, kBlock, 8, true);
  Request a = make_kv_request("a", token_run(1, 6), kv);
  // 6 computed + 5 scheduled would need 3 blocks, but no request ever holds
  // more than max_model_len = 8 tokens.
  a.num_computed_tokens = 0;
  ASSERT_TRUE(kv.allocate_slots(a, 6));
  a.num_computed_tokens = 6;
  ASSERT_TRUE(kv.allocate_slots(a, 5));
  EXPECT_EQ(a.kv_blocks.size(), 2u);
}

TEST(KVCacheManager, DecodeAllocatesABlockOnlyWhenTheLastOneIsFull) {
  KVCacheManager kv(10, kBlock, 32, true);
  Request a = make_kv_request("a", token_run(1, 3), kv);
  admit_and_compute(kv, a);
  ASSERT_EQ(a.kv_blocks.size(), 1u);
  a.all_token_ids.push_back(100);  // token 3 fits in block 0
  kv.update_block_hashes(a);
  ASSERT_TRUE(kv.allocate_slots(a, 1));
  a.num_computed_tokens = 4;
  EXPECT_EQ(a.kv_blocks.size(), 1u);
  a.all_token_ids.push_back(101);  // token 4 opens block 1
  kv.update_block_hashes(a);
  ASSERT_TRUE(kv.allocate_slots(a, 1));
  EXPECT_EQ(a.kv_blocks.size(), 2u);
}

TEST(KVCacheManager, BlockHashesAreChainedOverThePrefix) {
  KVCacheManager kv(10, kBlock, 32, true);
  Request r1 = make_kv_request("r1", token_run(1, 10), kv);
  ASSERT_EQ(r1.block_hashes.size(), 2u);  // the partial third block has none
  const std::vector<TokenId> b0{1, 2, 3, 4}, b1{5, 6, 7, 8};
  EXPECT_EQ(r1.block_hashes[0], hash_block_tokens(kRootBlockHash, b0));
  EXPECT_EQ(r1.block_hashes[1], hash_block_tokens(r1.block_hashes[0], b1));

  // Same second block after a different first block: a different hash,
  // because KV depends on the whole prefix, not on the block alone.
  Request r2 = make_kv_request("r2", concat({9, 10, 11, 12}, token_run(5, 4)), kv);
  ASSERT_EQ(r2.block_hashes.size(), 2u);
  EXPECT_NE(r2.block_hashes[0], r1.block_hashes[0]);
  EXPECT_NE(r2.block_hashes[1], r1.block_hashes[1]);

  admit_and_compute(kv, r1);
  EXPECT_EQ(kv.pool().cached_block(r2.block_hashes[1]), nullptr);
  Request r3 = make_kv_request("r3", concat({9, 10, 11, 12}, token_run(5, 5)), kv);
  EXPECT_EQ(kv.find_cached_prefix(r3).num_tokens, 0);
}

TEST(KVCacheManager, BlockHashesGrowAsTokensArrive) {
  KVCacheManager kv(10, kBlock, 32, true);
  Request r = make_kv_request("r", token_run(1, 7), kv);
  ASSERT_EQ(r.block_hashes.size(), 1u);
  r.all_token_ids.push_back(8);
  kv.update_block_hashes(r);
  ASSERT_EQ(r.block_hashes.size(), 2u);
  const std::vector<TokenId> b1{5, 6, 7, 8};
  EXPECT_EQ(r.block_hashes[1], hash_block_tokens(r.block_hashes[0], b1));
}

TEST(KVCacheManager, FreeReleasesBlocksInReverseOrder) {
  KVCacheManager kv(6, kBlock, 20, true);  // 5 usable
  Request a = make_kv_request("a", token_run(1, 12), kv);
  admit_and_compute(kv, a);
  ASSERT_THAT(block_ids_of(a.kv_blocks), ElementsAre(1, 2, 3));
  ASSERT_THAT(free_list_ids(kv.pool()), ElementsAre(4, 5));
  kv.free(a);
  EXPECT_THAT(free_list_ids(kv.pool()), ElementsAre(4, 5, 3, 2, 1));
  EXPECT_THAT(a.kv_blocks, IsEmpty());
  EXPECT_EQ(a.num_cached_blocks, 0);
  // Fully computed blocks stay in the prefix cache after the request ends.
  EXPECT_EQ(kv.pool().num_cached_hashes(), 3u);
}

TEST(KVCacheManager, SharedBlocksSurviveFreeingOneHolder) {
  KVCacheManager kv(10, kBlock, 32, true);
  Request a = make_kv_request("a", token_run(1, 9), kv);
  admit_and_compute(kv, a);
  Request b = make_kv_request("b", token_run(1, 9), kv);
  admit_and_compute(kv, b);  // hits a's 2 full blocks
  ASSERT_EQ(b.kv_blocks[0], a.kv_blocks[0]);
  const int32_t free_before = kv.pool().num_free_blocks();
  kv.free(a);
  // Only a's own partial block comes back.
  EXPECT_EQ(kv.pool().num_free_blocks(), free_before + 1);
  EXPECT_EQ(b.kv_blocks[0]->ref_cnt, 1);
  EXPECT_EQ(b.kv_blocks[1]->ref_cnt, 1);
}

TEST(KVCacheManager, FreeBeforeComputeDropsCacheEntriesOfUncomputedBlocks) {
  KVCacheManager kv(10, kBlock, 32, true);
  Request a = make_kv_request("a", token_run(1, 8), kv);
  const auto hit = kv.find_cached_prefix(a);
  ASSERT_TRUE(kv.allocate_slots(a, 8, &hit));
  // allocate_slots caches the blocks this step will compute...
  ASSERT_EQ(kv.pool().num_cached_hashes(), 2u);
  const BlockHash h0 = a.block_hashes[0], h1 = a.block_hashes[1];
  // ...but the request is preempted before the step runs (num_computed_tokens
  // not advanced): those blocks hold no KV and must not be served.
  kv.free(a);
  EXPECT_EQ(kv.pool().cached_block(h0), nullptr);
  EXPECT_EQ(kv.pool().cached_block(h1), nullptr);
  EXPECT_EQ(kv.pool().num_cached_hashes(), 0u);
  EXPECT_EQ(kv.pool().num_free_blocks(), 9);
  Request again = make_kv_request("again", token_run(1, 9), kv);
  EXPECT_EQ(kv.find_cached_prefix(again).num_tokens, 0);
}

TEST(KVCacheManager, FreeKeepsEntriesOfBlocksComputedInEarlierSteps) {
  KVCacheManager kv(10, kBlock, 32, true);
  Request a = make_kv_request("a", token_run(1, 12), kv);
  const auto hit = kv.find_cached_prefix(a);
  ASSERT_TRUE(kv.allocate_slots(a, 4, &hit));  // chunk 1: block 0
  a.num_computed_tokens = 4;                   // chunk 1 ran
  ASSERT_TRUE(kv.allocate_slots(a, 8));        // chunk 2: blocks 1, 2
  ASSERT_EQ(kv.pool().num_cached_hashes(), 3u);
  kv.free(a);  // preempted before chunk 2 ran
  EXPECT_NE(kv.pool().cached_block(a.block_hashes[0]), nullptr);
  EXPECT_EQ(kv.pool().cached_block(a.block_hashes[1]), nullptr);
  EXPECT_EQ(kv.pool().cached_block(a.block_hashes[2]), nullptr);
  EXPECT_EQ(kv.pool().num_cached_hashes(), 1u);
}

TEST(KVCacheManager, PrefixCacheCountersCountOnAdmissionOnly) {
  KVCacheManager kv(10, kBlock, 32, true);
  Request a = make_kv_request("a", token_run(1, 8), kv);
  admit_and_compute(kv, a);  // queries 8, hits 0

  Request b = make_kv_request("b", concat(token_run(1, 4), token_run(60, 5)), kv);
  // A lookup alone is not counted: a request blocked at the head of the
  // queue is looked up again every step.
  const auto hit = kv.find_cached_prefix(b);
  ASSERT_EQ(hit.num_tokens, 4);
  ASSERT_TRUE(kv.allocate_slots(b, b.num_tokens() - hit.num_tokens, &hit));  // queries 9, hits 4
  b.num_computed_tokens = b.num_tokens();

  b.all_token_ids.push_back(500);
  kv.update_block_hashes(b);
  ASSERT_TRUE(kv.allocate_slots(b, 1));  // a decode step: no lookup, no count

  const auto counters = kv.take_prefix_cache_counters();
  EXPECT_EQ(counters.queries, 17);
  EXPECT_EQ(counters.hits, 4);
  const auto again = kv.take_prefix_cache_counters();  // deltas: reset by taking
  EXPECT_EQ(again.queries, 0);
  EXPECT_EQ(again.hits, 0);
}

TEST(KVCacheManager, CachingDisabledNeverHits) {
  KVCacheManager kv(10, kBlock, 32, false);
  Request a = make_kv_request("a", token_run(1, 9), kv);
  EXPECT_THAT(a.block_hashes, IsEmpty());
  admit_and_compute(kv, a);
  Request b = make_kv_request("b", token_run(1, 9), kv);
  EXPECT_EQ(kv.find_cached_prefix(b).num_tokens, 0);
  EXPECT_EQ(kv.pool().num_cached_hashes(), 0u);
}

TEST(KVCacheManager, ResetPrefixCacheFollowsThePool) {
  KVCacheManager kv(10, kBlock, 32, true);
  Request a = make_kv_request("a", token_run(1, 8), kv);
  admit_and_compute(kv, a);
  EXPECT_FALSE(kv.reset_prefix_cache());
  kv.free(a);
  EXPECT_TRUE(kv.reset_prefix_cache());
  Request b = make_kv_request("b", token_run(1, 9), kv);
  EXPECT_EQ(kv.find_cached_prefix(b).num_tokens, 0);
}

}  // namespace
}  // namespace waypoint
