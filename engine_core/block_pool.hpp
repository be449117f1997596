#pragma once
// Every KV block of the engine, the free list, and the prefix cache index.
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "engine_core/kv_cache_block.hpp"
#include "engine_core/kv_event_log.hpp"

namespace waypoint {

class BlockPool {
 public:
  // Block 0 is the null block: reserved, never handed out, so that a block
  // table can be padded with a valid id. `num_blocks` counts it.
  BlockPool(int32_t num_blocks, bool enable_caching);
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  int32_t num_blocks() const { return static_cast<int32_t>(blocks_.size()); }
  int32_t num_usable_blocks() const { return num_blocks() - 1; }
  int32_t num_free_blocks() const { return free_.size(); }
  double usage() const;  // 1 - free/usable
  bool caching_enabled() const { return enable_caching_; }

  const KVCacheBlock* null_block() const { return &blocks_[0]; }
  KVCacheBlock* cached_block(BlockHash hash) const;
  // Starts loading the prefix-cache bucket of `hash`, ahead of a lookup: the index is
  // far larger than the caches and probed at random, so the lookup would stall on it.
  void prefetch_bucket(BlockHash hash) const {
    if (!buckets_.empty()) __builtin_prefetch(&buckets_[hash & bucket_mask_]);
  }

  // Takes n blocks from the front of the free list with ref_cnt 1, evicting
  // whatever prefix-cache entry they held. Precondition: n <= num_free_blocks().
  void take_new_blocks(int32_t n, std::vector<KVCacheBlock*>& out);
  // A prefix-cache hit: one more holder for each block; a free one leaves the free list.
  void touch(std::span<KVCacheBlock* const> blocks);
  // Drops one holder of each block, in the order given; a block nobody holds
  // goes to the back of the free list and stays findable in the prefix cache.
  void release(std::span<KVCacheBlock* const> blocks);
  void release_reversed(std::span<KVCacheBlock* const> blocks);

  // Enters blocks[first, last) in the prefix cache under hashes[first, last).
  // A block whose hash is already cached by another block stays uncached.
  // `tokens` are the request's tokens, which the KV event log reports.
  void cache_full_blocks(std::span<KVCacheBlock* const> blocks, std::span<const BlockHash> hashes,
                         int32_t first, int32_t last, std::span<const TokenId> tokens = {});

  // Drops the cache entries of these blocks (their KV will never be written).
  void uncache(std::span<KVCacheBlock* const> blocks);

  // Forgets every cached hash. Refused (false) while any block is in use,
  // because a running request's blocks would lose their identity.
  bool reset_prefix_cache();

  // Records every change to the prefix cache there from now on (--kv-events);
  // nullptr stops it. The log must outlive the pool or be detached first.
  void set_event_log(KvEventLog* log) { events_ = log; }

  // For invariant checks and metrics.
  const std::vector<KVCacheBlock>& blocks() const { return blocks_; }
  const FreeBlockQueue& free_queue() const { return free_; }
  size_t num_cached_hashes() const { return num_cached_; }

 private:
  void evict(KVCacheBlock* block);
  // The blocks are far more than the caches hold and are handed out in an order no
  // hardware prefetcher can follow, so each hand-out would stall on loading its block.
  // The next one is known now: its load starts here, overlapping the rest of the step.
  // (Evicting it then only stores; see evict.) Forced inline: a call that only
  // prefetches has no effect a compiler must keep.
  [[gnu::always_inline]] void prefetch_next_block() const {
    if (const KVCacheBlock* next = free_.front()) __builtin_prefetch(next, 1);
  }
  void release_one(KVCacheBlock* block);

  std::vector<KVCacheBlock> blocks_;  // never resized: the free list points into it
  FreeBlockQueue free_;
  // The prefix-cache index: hash -> block, chained through the blocks
  // themselves. A block holds at most one hash, so the index never allocates
  // after construction; this keeps eviction and caching off the allocator in
  // the step loop.
  std::vector<KVCacheBlock*> buckets_;
  uint64_t bucket_mask_ = 0;
  size_t num_cached_ = 0;
  bool enable_caching_;
  KvEventLog* events_ = nullptr;
};

}  // namespace waypoint
