// --kv-events: what the block pool reports as the prefix cache changes, in
// vLLM's BlockStored / BlockRemoved / AllBlocksCleared shape.
#include "engine_core/kv_event_log.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <bit>
#include <string>
#include <vector>

#include "engine_core/block_pool.hpp"
#include "engine_core/clock.hpp"
#include "engine_core/scheduler.hpp"
#include "scheduler_test_util.hpp"
#include "telemetry/trace_attributes.hpp"

namespace waypoint {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<KVCacheBlock*> take(BlockPool& pool, int32_t n) {
  std::vector<KVCacheBlock*> blocks;
  pool.take_new_blocks(n, blocks);
  return blocks;
}

std::string type_of(const HubEvent& e) {
  return std::get<std::string>(*e.find(attr::kEventType));
}

std::vector<int64_t> ints(const HubEvent& e, std::string_view key) {
  return std::get<std::vector<int64_t>>(*e.find(key));
}

int64_t h(BlockHash hash) { return std::bit_cast<int64_t>(hash); }

TEST(KvEventLog, AChainOfStoredBlocksIsOneEventWithItsParentAndTokens) {
  BlockPool pool(6, true);
  KvEventLog log(2);
  pool.set_event_log(&log);
  auto blocks = take(pool, 3);
  const std::vector<BlockHash> hashes{10, 20, 30};
  const std::vector<TokenId> tokens{1, 2, 3, 4, 5, 6, 7};
  pool.cache_full_blocks(blocks, hashes, 1, 3, tokens);  // block 0 was cached before

  const auto events = log.take(/*scheduler_step=*/9, /*ts_monotonic_ns=*/123);
  ASSERT_EQ(events.size(), 1u);
  const HubEvent& e = events[0];
  EXPECT_EQ(type_of(e), event_name::kBlockStored);
  EXPECT_THAT(ints(e, attr::kKvBlockHashes), ElementsAre(20, 30));
  EXPECT_EQ(std::get<int64_t>(*e.find(attr::kKvParentBlockHash)), 10);
  EXPECT_THAT(ints(e, attr::kKvTokenIds), ElementsAre(3, 4, 5, 6));
  EXPECT_EQ(std::get<int64_t>(*e.find(attr::kKvBlockSize)), 2);
  EXPECT_EQ(std::get<int64_t>(*e.find(attr::kSchedulerStep)), 9);
  EXPECT_EQ(std::get<int64_t>(*e.find(attr::kTsMonotonicNs)), 123);
  EXPECT_TRUE(log.empty());
}

TEST(KvEventLog, TheFirstBlockOfASequenceHasNoParent) {
  BlockPool pool(4, true);
  KvEventLog log(1);
  pool.set_event_log(&log);
  auto blocks = take(pool, 1);
  const std::vector<BlockHash> hashes{~BlockHash{0}};  // all ones: -1 as int64
  pool.cache_full_blocks(blocks, hashes, 0, 1, std::vector<TokenId>{42});
  const auto events = log.take(1, 0);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<std::monostate>(*events[0].find(attr::kKvParentBlockHash)));
  EXPECT_THAT(ints(events[0], attr::kKvBlockHashes), ElementsAre(-1));
}

TEST(KvEventLog, EvictionOfACachedBlockIsReportedRemoved) {
  BlockPool pool(3, true);  // 2 usable
  KvEventLog log(4);
  pool.set_event_log(&log);
  auto blocks = take(pool, 2);
  const std::vector<BlockHash> hashes{111, 222};
  pool.cache_full_blocks(blocks, hashes, 0, 2);
  pool.release(blocks);  // still cached, now free
  log.take(1, 0);

  take(pool, 2);  // reuses both: the cache entries go
  const auto events = log.take(2, 0);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(type_of(events[0]), event_name::kBlockRemoved);
  EXPECT_THAT(ints(events[0], attr::kKvBlockHashes), ElementsAre(111, 222));
}

TEST(KvEventLog, ResetClearsEverythingBeforeIt) {
  BlockPool pool(3, true);
  KvEventLog log(4);
  pool.set_event_log(&log);
  auto blocks = take(pool, 1);
  const std::vector<BlockHash> hashes{5};
  pool.cache_full_blocks(blocks, hashes, 0, 1);
  pool.release(blocks);
  ASSERT_TRUE(pool.reset_prefix_cache());
  const auto events = log.take(3, 0);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(type_of(events[0]), event_name::kAllBlocksCleared);
  EXPECT_EQ(events[0].find(attr::kKvBlockHashes), nullptr);
}

TEST(KvEventLog, WithoutALogThePoolRecordsNothing) {
  BlockPool pool(3, true);
  auto blocks = take(pool, 1);
  const std::vector<BlockHash> hashes{5};
  pool.cache_full_blocks(blocks, hashes, 0, 1);  // must not crash or record
  KvEventLog log(4);
  EXPECT_TRUE(log.empty());
  EXPECT_THAT(log.take(0, 0), IsEmpty());
}

// Through the scheduler: a request's prompt blocks are stored with the
// request's own tokens and chained hashes.
TEST(KvEventLog, TheSchedulerStoresAPromptsFullBlocks) {
  ManualClock clock;
  Scheduler s(test::small_config(4, 16, 32), clock);
  KvEventLog log(4);
  s.set_kv_event_log(&log);
  ASSERT_TRUE(s.add_request(test::make_request("a", test::token_run(1, 9), 2)).ok());
  s.schedule();
  const auto events = log.take(s.scheduler_step(), 0);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(type_of(events[0]), event_name::kBlockStored);
  const auto hashes = ints(events[0], attr::kKvBlockHashes);
  ASSERT_EQ(hashes.size(), 2u);  // 9 tokens: two full blocks
  EXPECT_EQ(hashes[0], h(hash_block_tokens(kRootBlockHash, std::vector<TokenId>{1, 2, 3, 4})));
  EXPECT_EQ(hashes[1], h(hash_block_tokens(static_cast<BlockHash>(hashes[0]),
                                           std::vector<TokenId>{5, 6, 7, 8})));
  EXPECT_THAT(ints(events[0], attr::kKvTokenIds), ElementsAre(1, 2, 3, 4, 5, 6, 7, 8));
}

}  // namespace
}  // namespace waypoint
