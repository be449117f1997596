#include "engine_core/kv_cache_block.hpp"

#include <cassert>

namespace waypoint {

FreeBlockQueue::FreeBlockQueue() {
  head_.next_free = &tail_;
  tail_.prev_free = &head_;
}

KVCacheBlock* FreeBlockQueue::pop_front() {
  assert(size_ > 0);
  KVCacheBlock* block = head_.next_free;
  remove(block);
  return block;
}

void FreeBlockQueue::remove(KVCacheBlock* block) {
  assert(contains(block));
  block->prev_free->next_free = block->next_free;
  block->next_free->prev_free = block->prev_free;
  block->prev_free = nullptr;
  block->next_free = nullptr;
  --size_;
}

void FreeBlockQueue::push_back(KVCacheBlock* block) {
  assert(!contains(block));
  block->prev_free = tail_.prev_free;
  block->next_free = &tail_;
  tail_.prev_free->next_free = block;
  tail_.prev_free = block;
  ++size_;
}

}  // namespace waypoint
