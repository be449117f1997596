#include "engine_core/kv_cache_manager.hpp"

#include <algorithm>
#include <cassert>
#include <span>

namespace waypoint {

namespace {
int32_t cdiv(int32_t a, int32_t b) { return (a + b - 1) / b; }
}  // namespace

KVCacheManager::KVCacheManager(int32_t num_blocks, int32_t block_size, int32_t max_model_len,
                               bool enable_prefix_caching)
    : pool_(num_blocks, enable_prefix_caching),
      block_size_(block_size),
      max_model_len_(max_model_len) {}

void KVCacheManager::hash_full_blocks(Request& request) const {
  auto& hashes = request.block_hashes;
  const auto block_size = static_cast<size_t>(block_size_);
  while ((hashes.size() + 1) * block_size <= request.all_token_ids.size()) {
    const size_t i = hashes.size();
    const BlockHash parent = i == 0 ? kRootBlockHash : hashes[i - 1];
    hashes.push_back(hash_block_tokens(
        parent,
        std::span<const TokenId>(request.all_token_ids).subspan(i * block_size_, block_size_)));
    // The next schedule() looks this block up in the prefix cache, to enter
    // it there (or, at admission, to find a hit).
    pool_.prefetch_bucket(hashes.back());
  }
}

KVCacheManager::CacheHit KVCacheManager::find_cached_prefix(const Request& request) {
  CacheHit hit;
  if (!pool_.caching_enabled()) return hit;
  const int32_t max_hit_blocks = (request.num_tokens() - 1) / block_size_;
  const int32_t limit = std::min<int32_t>(max_hit_blocks, request.block_hashes.size());
  for (int32_t i = 0; i < limit; ++i) {
    KVCacheBlock* block = pool_.cached_block(request.block_hashes[i]);
    if (block == nullptr) break;
    hit.blocks.push_back(block);
  }
  hit.num_tokens = static_cast<int32_t>(hit.blocks.size()) * block_size_;
  return hit;
}

bool KVCacheManager::allocate_new_slots(Request& request, int32_t num_new_tokens,
                                        const CacheHit* hit) {
  const int32_t num_hit_blocks = hit ? static_cast<int32_t>(hit->blocks.size()) : 0;
  const int32_t num_computed = request.num_computed_tokens + (hit ? hit->num_tokens : 0);
  const int32_t num_tokens_needing_slots = std::min(num_computed + num_new_tokens, max_model_len_);
  const int32_t num_to_allocate =
      std::max(0, cdiv(num_tokens_needing_slots, block_size_) -
                      static_cast<int32_t>(request.kv_blocks.size()) - num_hit_blocks);

  // Hit blocks sitting in the free list stop being free when touched, so they
  // cannot also be counted as room for new blocks.
  int32_t num_free_hit_blocks = 0;
  if (hit) {
    for (const KVCacheBlock* b : hit->blocks) num_free_hit_blocks += b->ref_cnt == 0;
  }
  if (num_to_allocate > pool_.num_free_blocks() - num_free_hit_blocks) return false;

  if (hit && pool_.caching_enabled()) {
    // Counted on admission only, so a request blocked at the head of the
    // queue does not count its lookup once per step.
    counters_.queries += request.num_tokens();
    counters_.hits += hit->num_tokens;
  }
  if (hit && num_hit_blocks > 0) {
    pool_.touch(hit->blocks);
    request.kv_blocks.insert(request.kv_blocks.end(), hit->blocks.begin(), hit->blocks.end());
  }
  pool_.take_new_blocks(num_to_allocate, request.kv_blocks);

  if (pool_.caching_enabled()) {
    const int32_t num_full =
        std::min(num_computed + num_new_tokens, request.num_tokens()) / block_size_;
    if (num_full > request.num_cached_blocks) {
      pool_.cache_full_blocks(request.kv_blocks, request.block_hashes, request.num_cached_blocks,
                              num_full, request.all_token_ids);
      request.num_cached_blocks = num_full;
    }
  }
  return true;
}

void KVCacheManager::free(Request& request) {
  // Blocks at or past the first one not entirely computed may have been cached
  // for tokens scheduled but never executed.
  const int32_t num_valid_blocks = request.num_computed_tokens / block_size_;
  for (int32_t i = num_valid_blocks; i < request.num_cached_blocks; ++i) {
    KVCacheBlock* block = request.kv_blocks[i];
    if (block->ref_cnt == 1) scratch_.push_back(block);
  }
  if (!scratch_.empty()) {
    pool_.uncache(scratch_);
    scratch_.clear();
  }
  pool_.release_reversed(request.kv_blocks);
  request.kv_blocks.clear();
  request.num_cached_blocks = 0;
}

PrefixCacheCounters KVCacheManager::take_prefix_cache_counters() {
  PrefixCacheCounters c = counters_;
  counters_ = {};
  return c;
}

}  // namespace waypoint
