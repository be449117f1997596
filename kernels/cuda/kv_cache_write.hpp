#pragma once
// Writes this step's keys and values into one layer's paged KV cache on the device.
// All pointers are device pointers. The launch is asynchronous on `stream`; a launch
// that fails throws std::runtime_error, and bad sizes throw std::invalid_argument.
#include <cstddef>
#include <cstdint>

#include "kernels/bf16.hpp"
#include "kernels/cuda/stream.hpp"

namespace waypoint::kernels::cuda {

// key_cache and value_cache are one layer's caches, [num_slots, num_kv_heads,
// head_dim], where slot = block_id * block_size + offset (the numbering of
// worker/kv_cache.hpp). k and v hold num_tokens rows of num_kv_heads * head_dim
// elements, row t starting at t * k_stride (t * v_stride) elements: they may be
// views into one fused qkv buffer. For each token t:
//   key_cache[slots[t]] = k[t], value_cache[slots[t]] = v[t]
// and a token with slots[t] < 0 (padding) is skipped. Slots must be below the
// cache's num_slots and distinct; the strides must be at least a row.
void write_kv_cache(bf16* key_cache, bf16* value_cache, const bf16* k, const bf16* v,
                    std::size_t k_stride, std::size_t v_stride, const std::int64_t* slots,
                    std::size_t num_tokens, std::size_t num_kv_heads, std::size_t head_dim,
                    Stream stream);

}  // namespace waypoint::kernels::cuda
