#pragma once
// One worker's paged KV cache on the host. A slot is block_id * block_size +
// offset, exactly the numbering the scheduler's block ids imply; each slot
// holds this rank's KV heads for every layer.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace waypoint {

class KvCache {
 public:
  KvCache(int32_t num_layers, int32_t num_blocks, int32_t block_size, int32_t num_kv_heads,
          int32_t head_dim);

  float* key(int32_t layer, int64_t slot) { return k_.data() + offset(layer, slot); }
  float* value(int32_t layer, int64_t slot) { return v_.data() + offset(layer, slot); }
  const float* key(int32_t layer, int64_t slot) const { return k_.data() + offset(layer, slot); }
  const float* value(int32_t layer, int64_t slot) const { return v_.data() + offset(layer, slot); }

  int32_t block_size() const { return block_size_; }
  int64_t num_slots() const { return num_slots_; }

  // Bytes one block takes across all layers, K and V: sizes the pool from a
  // memory budget (--kv-cache-memory-bytes).
  static int64_t bytes_per_block(int32_t num_layers, int32_t block_size, int32_t num_kv_heads,
                                 int32_t head_dim);

 private:
  size_t offset(int32_t layer, int64_t slot) const {
    return (static_cast<size_t>(layer) * static_cast<size_t>(num_slots_) +
            static_cast<size_t>(slot)) *
           slot_width_;
  }

  int32_t block_size_;
  int64_t num_slots_;
  size_t slot_width_;  // num_kv_heads * head_dim
  std::vector<float> k_;
  std::vector<float> v_;
};

}  // namespace waypoint
