#include "engine_core/block_pool.hpp"

#include <algorithm>
#include <cassert>
#include <stdexcept>

namespace waypoint {

BlockPool::BlockPool(int32_t num_blocks, bool enable_caching)
    : blocks_(static_cast<size_t>(num_blocks)), enable_caching_(enable_caching) {
  if (num_blocks < 2) throw std::invalid_argument("a block pool needs at least 2 blocks");
  for (int32_t i = 0; i < num_blocks; ++i) blocks_[i].block_id = i;
  blocks_[0].is_null = true;
  for (int32_t i = 1; i < num_blocks; ++i) free_.push_back(&blocks_[i]);
  if (enable_caching_) {
    size_t n = 1;
    while (n < 2 * static_cast<size_t>(num_blocks)) n <<= 1;
    buckets_.assign(n, nullptr);
    bucket_mask_ = n - 1;
  }
}

double BlockPool::usage() const {
  return 1.0 - static_cast<double>(num_free_blocks()) / num_usable_blocks();
}

KVCacheBlock* BlockPool::cached_block(BlockHash hash) const {
  if (buckets_.empty()) return nullptr;
  for (KVCacheBlock* b = buckets_[hash & bucket_mask_]; b != nullptr; b = b->next_cached) {
    if (*b->block_hash == hash) return b;
  }
  return nullptr;
}

void BlockPool::evict(KVCacheBlock* block) {
  if (!block->block_hash) return;
  // Only stores: with both neighbours at hand, nothing waits on a load from
  // the bucket or the chain, which are cold.
  if (block->prev_cached != nullptr) {
    block->prev_cached->next_cached = block->next_cached;
  } else {
    buckets_[*block->block_hash & bucket_mask_] = block->next_cached;
  }
  if (block->next_cached != nullptr) block->next_cached->prev_cached = block->prev_cached;
  block->next_cached = nullptr;
  block->prev_cached = nullptr;
  if (events_ != nullptr) events_->removed(*block->block_hash);
  block->block_hash.reset();
  --num_cached_;
}

void BlockPool::take_new_blocks(int32_t n, std::vector<KVCacheBlock*>& out) {
  assert(n <= num_free_blocks());
  for (int32_t i = 0; i < n; ++i) {
    KVCacheBlock* block = free_.pop_front();
    evict(block);
    assert(block->ref_cnt == 0);
    block->ref_cnt = 1;
    out.push_back(block);
  }
  prefetch_next_block();
}

void BlockPool::touch(std::span<KVCacheBlock* const> blocks) {
  for (KVCacheBlock* block : blocks) {
    if (block->ref_cnt == 0 && free_.contains(block)) free_.remove(block);
    ++block->ref_cnt;
  }
}

void BlockPool::release_one(KVCacheBlock* block) {
  assert(block->ref_cnt > 0 && !block->is_null);
  if (--block->ref_cnt == 0) free_.push_back(block);
}

void BlockPool::release(std::span<KVCacheBlock* const> blocks) {
  for (KVCacheBlock* block : blocks) release_one(block);
}

void BlockPool::release_reversed(std::span<KVCacheBlock* const> blocks) {
  // A finished request's blocks are scattered and cold: loading a few ahead
  // overlaps their misses.
  constexpr size_t kAhead = 4;
  for (size_t k = blocks.size(); k-- > 0;) {
    if (k >= kAhead) __builtin_prefetch(blocks[k - kAhead], 1);
    release_one(blocks[k]);
  }
}

void BlockPool::cache_full_blocks(std::span<KVCacheBlock* const> blocks,
                                  std::span<const BlockHash> hashes, int32_t first, int32_t last,
                                  std::span<const TokenId> tokens) {
  if (!enable_caching_) return;
  for (int32_t i = first; i < last; ++i) {
    // A prefix-cache hit is found here as itself, so it stays as it is; so
    // does a block whose content another block caches already. Any other
    // block was uncached when handed out (evicted), and only this loop
    // caches it: reading it to check would stall on a miss, for nothing.
    if (cached_block(hashes[i]) != nullptr) continue;
    KVCacheBlock* block = blocks[i];
    assert(!block->block_hash);
    KVCacheBlock*& bucket = buckets_[hashes[i] & bucket_mask_];
    block->block_hash = hashes[i];
    block->next_cached = bucket;
    block->prev_cached = nullptr;
    if (bucket != nullptr) bucket->prev_cached = block;
    bucket = block;
    ++num_cached_;
    if (events_ != nullptr) {
      const auto size = static_cast<size_t>(events_->block_size());
      const auto from = static_cast<size_t>(i) * size;
      events_->stored(hashes[i], i > 0 ? std::optional(hashes[i - 1]) : std::nullopt,
                      from + size <= tokens.size() ? tokens.subspan(from, size)
                                                   : std::span<const TokenId>{});
    }
  }
}

void BlockPool::uncache(std::span<KVCacheBlock* const> blocks) {
  for (KVCacheBlock* block : blocks) evict(block);
}

bool BlockPool::reset_prefix_cache() {
  if (num_free_blocks() != num_usable_blocks()) return false;
  std::fill(buckets_.begin(), buckets_.end(), nullptr);
  for (auto& block : blocks_) {
    block.block_hash.reset();
    block.next_cached = nullptr;
    block.prev_cached = nullptr;
  }
  num_cached_ = 0;
  if (events_ != nullptr) events_->cleared();
  return true;
}

}  // namespace waypoint
