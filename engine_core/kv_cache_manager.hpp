#pragma once
// Per-request view of the block pool: prefix-cache lookups, slot allocation
// for scheduled tokens, and freeing (vLLM V1's KVCacheManager).
#include <algorithm>
#include <cstdint>
#include <vector>

#include "engine_core/block_pool.hpp"
#include "engine_core/request.hpp"

namespace waypoint {

struct PrefixCacheCounters {
  int64_t queries = 0;  // tokens looked up
  int64_t hits = 0;     // tokens found
};

class KVCacheManager {
 public:
  KVCacheManager(int32_t num_blocks, int32_t block_size, int32_t max_model_len,
                 bool enable_prefix_caching);

  struct CacheHit {
    std::vector<KVCacheBlock*> blocks;
    int32_t num_tokens = 0;
  };

  // The longest run of the request's leading full blocks already in the cache.
  // Capped at num_tokens - 1: the last token must be computed to get logits.
  CacheHit find_cached_prefix(const Request& request);

  // Reserves KV slots for `num_new_tokens` more tokens of the request, after
  // taking over `hit` (first scheduling only). Returns false, changing
  // nothing, when the free list cannot cover it. Newly allocated blocks are
  // appended to request.kv_blocks. Full blocks covering the scheduled tokens
  // are entered in the prefix cache now, because this step computes them.
  bool allocate_slots(Request& request, int32_t num_new_tokens, const CacheHit* hit = nullptr) {
    // Inline for the common call, a decode step inside the blocks it holds
    // that fills none: nothing to do.
    if (hit == nullptr && fits_as_is(request, num_new_tokens)) return true;
    return allocate_new_slots(request, num_new_tokens, hit);
  }

  // Releases every block of the request, last block first so the tail of a
  // sequence is evicted before its (more shareable) head. Cache entries for
  // blocks whose KV was never written (scheduled, then preempted in the same
  // step) are dropped first, since they would serve garbage.
  void free(Request& request);

  // Hashes the request's newly completed full blocks. Called for every
  // request every step, while a block fills only every block_size tokens:
  // the inline check multiplies, where a division by the runtime block size
  // would cost more than the rest.
  void update_block_hashes(Request& request) const {
    if (pool_.caching_enabled() &&
        (request.block_hashes.size() + 1) * static_cast<size_t>(block_size_) <=
            request.all_token_ids.size()) {
      hash_full_blocks(request);
    }
  }

  bool reset_prefix_cache() { return pool_.reset_prefix_cache(); }
  double usage() const { return pool_.usage(); }
  int32_t block_size() const { return block_size_; }
  const BlockPool& pool() const { return pool_; }
  void set_event_log(KvEventLog* log) { pool_.set_event_log(log); }
  PrefixCacheCounters take_prefix_cache_counters();

 private:
  // Whether the request's next num_new_tokens need neither a new block nor a
  // block entered in the prefix cache (see allocate_new_slots).
  bool fits_as_is(const Request& request, int32_t num_new_tokens) const {
    const int32_t end = request.num_computed_tokens + num_new_tokens;
    if (std::min(end, max_model_len_) >
        static_cast<int32_t>(request.kv_blocks.size()) * block_size_) {
      return false;
    }
    return !pool_.caching_enabled() ||
           std::min(end, request.num_tokens()) < (request.num_cached_blocks + 1) * block_size_;
  }
  bool allocate_new_slots(Request& request, int32_t num_new_tokens, const CacheHit* hit);
  void hash_full_blocks(Request& request) const;

  BlockPool pool_;
  int32_t block_size_;
  int32_t max_model_len_;
  PrefixCacheCounters counters_;
  std::vector<KVCacheBlock*> scratch_;
};

}  // namespace waypoint
