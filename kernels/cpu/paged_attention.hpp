#pragma once
// Attention of a step's query tokens over the paged KV cache, on CPU: each
// query token attends causally to its sequence's positions [0, context_len),
// read through the sequence's block table. Work is split across the pool by
// (token, KV head); the q heads that share a KV head (GQA) are computed
// together, so each key and value row is loaded once for the whole group.
#include <cstdint>
#include <span>
#include <vector>

#include "kernels/cpu/thread_pool.hpp"

namespace waypoint::kernels::cpu {

// One layer of the paged cache: slot s of the layer holds every KV head's
// head_dim floats at key + s * slot_stride (likewise value).
struct PagedKv {
  const float* key = nullptr;
  const float* value = nullptr;
  int64_t slot_stride = 0;
  int32_t block_size = 0;
};

struct AttentionShape {
  int32_t q_heads = 0;
  int32_t kv_heads = 0;
  int32_t head_dim = 0;
  float scale = 1.0f;  // usually 1 / sqrt(head_dim)
};

// A query token: it attends to positions [0, context_len) of the sequence
// whose block table is block_ids.
struct AttentionQuery {
  int64_t context_len = 0;
  const int32_t* block_ids = nullptr;
};

class PagedAttention {
 public:
  explicit PagedAttention(ThreadPool& pool) : pool_(pool) {}

  // q and out are [queries.size(), q_heads * head_dim].
  void operator()(std::span<const AttentionQuery> queries, const float* q, const PagedKv& kv,
                  const AttentionShape& shape, float* out);

 private:
  ThreadPool& pool_;
  std::vector<std::vector<float>> scores_;  // one per pool thread, reused
};

}  // namespace waypoint::kernels::cpu
