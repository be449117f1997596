#include "worker/kv_cache.hpp"

namespace waypoint {

KvCache::KvCache(int32_t num_layers, int32_t num_blocks, int32_t block_size, int32_t num_kv_heads,
                 int32_t head_dim)
    : block_size_(block_size),
      num_slots_(int64_t{num_blocks} * block_size),
      slot_width_(static_cast<size_t>(num_kv_heads) * static_cast<size_t>(head_dim)),
      k_(static_cast<size_t>(num_layers) * static_cast<size_t>(num_slots_) * slot_width_),
      v_(k_.size()) {}

int64_t KvCache::bytes_per_block(int32_t num_layers, int32_t block_size, int32_t num_kv_heads,
                                 int32_t head_dim) {
  return int64_t{2} * num_layers * block_size * num_kv_heads * head_dim *
         static_cast<int64_t>(sizeof(float));
}

}  // namespace waypoint
