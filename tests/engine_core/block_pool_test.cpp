// BlockPool: the null block, the LRU free list and the prefix-cache index
// (vLLM V1's BlockPool / FreeKVCacheBlockQueue).
#include "engine_core/block_pool.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

#include "scheduler_test_util.hpp"

namespace waypoint {
namespace {

using test::block_ids_of;
using test::free_list_ids;
using ::testing::ElementsAre;

std::vector<KVCacheBlock*> take(BlockPool& pool, int32_t n) {
  std::vector<KVCacheBlock*> out;
  pool.take_new_blocks(n, out);
  return out;
}

TEST(BlockPool, NullBlockIsReservedAndNeverHandedOut) {
  BlockPool pool(5, true);
  EXPECT_EQ(pool.num_blocks(), 5);
  EXPECT_EQ(pool.num_usable_blocks(), 4);
  EXPECT_EQ(pool.num_free_blocks(), 4);
  EXPECT_EQ(pool.null_block()->block_id, 0);
  EXPECT_TRUE(pool.null_block()->is_null);
  // Draining the whole pool must yield every id except 0.
  auto blocks = take(pool, 4);
  EXPECT_THAT(block_ids_of(blocks), ElementsAre(1, 2, 3, 4));
  EXPECT_EQ(pool.num_free_blocks(), 0);
}

TEST(BlockPool, ConstructorRejectsAPoolWithOnlyTheNullBlock) {
  EXPECT_THROW(BlockPool(1, true), std::invalid_argument);
}

TEST(BlockPool, TakenBlocksHaveOneHolderAndLeaveTheFreeList) {
  BlockPool pool(5, true);
  auto blocks = take(pool, 2);
  ASSERT_EQ(blocks.size(), 2u);
  for (const KVCacheBlock* b : blocks) {
    EXPECT_EQ(b->ref_cnt, 1);
    EXPECT_FALSE(pool.free_queue().contains(b));
  }
  EXPECT_THAT(free_list_ids(pool), ElementsAre(3, 4));
}

TEST(BlockPool, ReleaseAppendsToTheBackSoTheOldestFreeIsEvictedFirst) {
  BlockPool pool(5, true);
  auto blocks = take(pool, 4);                          // ids 1..4, free list empty
  pool.release(std::vector<KVCacheBlock*>{blocks[1]});  // id 2 freed first
  pool.release(std::vector<KVCacheBlock*>{blocks[0]});  // then id 1
  EXPECT_THAT(free_list_ids(pool), ElementsAre(2, 1));
  EXPECT_EQ(blocks[0]->ref_cnt, 0);
  // LRU: the block freed longest ago is reused first.
  auto again = take(pool, 1);
  EXPECT_THAT(block_ids_of(again), ElementsAre(2));
}

TEST(BlockPool, ReleaseInGivenOrderWithinOneCall) {
  BlockPool pool(5, true);
  auto blocks = take(pool, 3);  // 1,2,3; free [4]
  pool.release(blocks);
  EXPECT_THAT(free_list_ids(pool), ElementsAre(4, 1, 2, 3));
}

TEST(BlockPool, ReleaseReversedMakesTheLastBlockEvictableBeforeTheFirst) {
  BlockPool pool(5, true);
  auto blocks = take(pool, 3);  // 1,2,3; free [4]
  pool.release_reversed(blocks);
  // A sequence's tail is less shareable than its head, so it goes first.
  EXPECT_THAT(free_list_ids(pool), ElementsAre(4, 3, 2, 1));
  auto again = take(pool, 2);
  EXPECT_THAT(block_ids_of(again), ElementsAre(4, 3));
}

TEST(BlockPool, ReleaseOfASharedBlockKeepsItOutOfTheFreeList) {
  BlockPool pool(5, true);
  auto blocks = take(pool, 1);
  pool.touch(blocks);  // a second holder
  EXPECT_EQ(blocks[0]->ref_cnt, 2);
  pool.release(blocks);
  EXPECT_EQ(blocks[0]->ref_cnt, 1);
  EXPECT_FALSE(pool.free_queue().contains(blocks[0]));
  EXPECT_EQ(pool.num_free_blocks(), 3);
  pool.release(blocks);
  EXPECT_EQ(blocks[0]->ref_cnt, 0);
  EXPECT_EQ(pool.num_free_blocks(), 4);
}

TEST(BlockPool, TouchOfAFreeCachedBlockRevivesIt) {
  BlockPool pool(5, true);
  auto blocks = take(pool, 2);  // 1,2; free [3,4]
  const std::vector<BlockHash> hashes{111, 222};
  pool.cache_full_blocks(blocks, hashes, 0, 2);
  pool.release(blocks);  // free [3,4,1,2], both still cached
  ASSERT_EQ(pool.num_free_blocks(), 4);
  ASSERT_EQ(pool.cached_block(111), blocks[0]);

  pool.touch(std::vector<KVCacheBlock*>{blocks[0]});
  EXPECT_EQ(blocks[0]->ref_cnt, 1);
  EXPECT_FALSE(pool.free_queue().contains(blocks[0]));
  EXPECT_EQ(pool.num_free_blocks(), 3);
  EXPECT_THAT(free_list_ids(pool), ElementsAre(3, 4, 2));
  // Reviving a block must not drop its cache entry.
  EXPECT_EQ(pool.cached_block(111), blocks[0]);
  ASSERT_TRUE(blocks[0]->block_hash.has_value());
  EXPECT_EQ(*blocks[0]->block_hash, 111u);
}

TEST(BlockPool, TouchOfABlockInUseOnlyAddsAHolder) {
  BlockPool pool(5, true);
  auto blocks = take(pool, 1);
  pool.touch(blocks);
  EXPECT_EQ(blocks[0]->ref_cnt, 2);
  EXPECT_EQ(pool.num_free_blocks(), 3);
}

TEST(BlockPool, CacheFullBlocksEntersOnlyTheGivenRange) {
  BlockPool pool(5, true);
  auto blocks = take(pool, 3);
  const std::vector<BlockHash> hashes{10, 20, 30};
  pool.cache_full_blocks(blocks, hashes, 1, 3);
  EXPECT_EQ(pool.cached_block(10), nullptr);
  EXPECT_EQ(pool.cached_block(20), blocks[1]);
  EXPECT_EQ(pool.cached_block(30), blocks[2]);
  EXPECT_FALSE(blocks[0]->block_hash.has_value());
  ASSERT_TRUE(blocks[1]->block_hash.has_value());
  EXPECT_EQ(*blocks[1]->block_hash, 20u);
  EXPECT_EQ(pool.num_cached_hashes(), 2u);
}

TEST(BlockPool, FreedCachedBlockStaysFindableUntilReused) {
  BlockPool pool(3, true);  // usable: 1, 2
  auto blocks = take(pool, 2);
  const std::vector<BlockHash> hashes{7, 8};
  pool.cache_full_blocks(blocks, hashes, 0, 2);
  pool.release(blocks);  // free [1, 2]
  EXPECT_EQ(pool.cached_block(7), blocks[0]);
  EXPECT_EQ(pool.cached_block(8), blocks[1]);

  // Reusing the LRU block (id 1) for new content must evict its old hash,
  // otherwise a later lookup would serve the new content as the old prefix.
  auto reused = take(pool, 1);
  ASSERT_EQ(reused[0], blocks[0]);
  EXPECT_EQ(pool.cached_block(7), nullptr);
  EXPECT_FALSE(reused[0]->block_hash.has_value());
  EXPECT_EQ(pool.cached_block(8), blocks[1]);
  EXPECT_EQ(pool.num_cached_hashes(), 1u);
}

TEST(BlockPool, DuplicateHashLeavesTheSecondBlockUncached) {
  BlockPool pool(5, true);
  auto a = take(pool, 1);
  auto b = take(pool, 1);
  const std::vector<BlockHash> hashes{42};
  pool.cache_full_blocks(a, hashes, 0, 1);
  pool.cache_full_blocks(b, hashes, 0, 1);
  EXPECT_EQ(pool.cached_block(42), a[0]);
  EXPECT_FALSE(b[0]->block_hash.has_value());
  EXPECT_EQ(pool.num_cached_hashes(), 1u);
  // Reusing the uncached duplicate must not disturb the first block's entry.
  pool.release(b);
  auto reused = take(pool, 3);  // free list was [3, 4, 2]
  EXPECT_THAT(block_ids_of(reused), ElementsAre(3, 4, 2));
  EXPECT_EQ(pool.cached_block(42), a[0]);
}

TEST(BlockPool, UncacheDropsTheEntry) {
  BlockPool pool(5, true);
  auto blocks = take(pool, 2);
  const std::vector<BlockHash> hashes{5, 6};
  pool.cache_full_blocks(blocks, hashes, 0, 2);
  pool.uncache(std::vector<KVCacheBlock*>{blocks[1]});
  EXPECT_EQ(pool.cached_block(6), nullptr);
  EXPECT_FALSE(blocks[1]->block_hash.has_value());
  EXPECT_EQ(pool.cached_block(5), blocks[0]);
  // Uncaching does not release: the holder still owns the block.
  EXPECT_EQ(blocks[1]->ref_cnt, 1);
  EXPECT_EQ(pool.num_free_blocks(), 2);
}

TEST(BlockPool, ResetPrefixCacheIsRefusedWhileABlockIsInUse) {
  BlockPool pool(5, true);
  auto blocks = take(pool, 2);
  const std::vector<BlockHash> hashes{1, 2};
  pool.cache_full_blocks(blocks, hashes, 0, 2);
  pool.release(std::vector<KVCacheBlock*>{blocks[0]});

  EXPECT_FALSE(pool.reset_prefix_cache());
  EXPECT_EQ(pool.num_cached_hashes(), 2u);
  EXPECT_EQ(pool.cached_block(1), blocks[0]);

  pool.release(std::vector<KVCacheBlock*>{blocks[1]});
  EXPECT_TRUE(pool.reset_prefix_cache());
  EXPECT_EQ(pool.num_cached_hashes(), 0u);
  EXPECT_EQ(pool.cached_block(1), nullptr);
  EXPECT_EQ(pool.cached_block(2), nullptr);
  EXPECT_FALSE(blocks[0]->block_hash.has_value());
  EXPECT_FALSE(blocks[1]->block_hash.has_value());
  EXPECT_EQ(pool.num_free_blocks(), 4);
}

TEST(BlockPool, UsageIsOneMinusFreeOverUsable) {
  BlockPool pool(5, true);  // 4 usable: the null block never counts
  EXPECT_DOUBLE_EQ(pool.usage(), 0.0);
  auto one = take(pool, 1);
  EXPECT_DOUBLE_EQ(pool.usage(), 0.25);
  auto rest = take(pool, 3);
  EXPECT_DOUBLE_EQ(pool.usage(), 1.0);
  pool.release(rest);
  EXPECT_DOUBLE_EQ(pool.usage(), 0.25);
}

TEST(BlockPool, CachingDisabledNeverIndexesBlocks) {
  BlockPool pool(5, false);
  auto blocks = take(pool, 1);
  const std::vector<BlockHash> hashes{9};
  pool.cache_full_blocks(blocks, hashes, 0, 1);
  EXPECT_EQ(pool.cached_block(9), nullptr);
  EXPECT_FALSE(blocks[0]->block_hash.has_value());
  EXPECT_EQ(pool.num_cached_hashes(), 0u);
}

}  // namespace
}  // namespace waypoint
