#pragma once
// One paged KV block and the LRU list of free ones.
#include <cstdint>
#include <optional>

#include "engine_core/block_hash.hpp"
#include "proto/scheduler_output.hpp"

namespace waypoint {

// One cache line each: the pool's blocks are met at random, and a block
// straddling two lines would cost two misses, of which prefetching (see
// BlockPool::prefetch_next_block) starts only one.
struct alignas(64) KVCacheBlock {
  BlockId block_id = 0;
  int32_t ref_cnt = 0;
  std::optional<BlockHash> block_hash;  // set while the block is in the prefix cache
  bool is_null = false;

  // Links of the free list; both null while the block is in use.
  KVCacheBlock* prev_free = nullptr;
  KVCacheBlock* next_free = nullptr;
  // Neighbours in the same prefix-cache bucket; the previous one lets an
  // eviction unlink the block without walking the bucket (nullptr: first).
  KVCacheBlock* next_cached = nullptr;
  KVCacheBlock* prev_cached = nullptr;
};

// Intrusive doubly linked list: O(1) pop from the front (the least recently
// freed, evicted first), append at the back, and removal from the middle when
// a prefix-cache hit revives a free block.
class FreeBlockQueue {
 public:
  FreeBlockQueue();
  FreeBlockQueue(const FreeBlockQueue&) = delete;
  FreeBlockQueue& operator=(const FreeBlockQueue&) = delete;

  int32_t size() const { return size_; }
  KVCacheBlock* front() const { return size_ > 0 ? head_.next_free : nullptr; }
  bool contains(const KVCacheBlock* block) const { return block->next_free != nullptr; }

  KVCacheBlock* pop_front();  // precondition: size() > 0
  void remove(KVCacheBlock* block);
  void push_back(KVCacheBlock* block);

  template <class F>
  void for_each(F&& f) const {
    for (KVCacheBlock* b = head_.next_free; b != &tail_; b = b->next_free) f(*b);
  }

 private:
  KVCacheBlock head_;
  KVCacheBlock tail_;
  int32_t size_ = 0;
};

}  // namespace waypoint
