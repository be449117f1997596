#pragma once
// Causal attention over a paged KV cache on the device, for one layer and one step:
// decode tokens and prefill chunks of any number of sequences in one launch. bf16
// in and out, f32 math. All pointers are device pointers. The launch is asynchronous
// on `stream`; a launch that fails throws std::runtime_error, and bad sizes throw
// std::invalid_argument.
//
// Reference semantics. Let G = num_q_heads / num_kv_heads. For each sequence s,
// with q_len = query_start[s+1] - query_start[s], for each i in [0, q_len) and each q
// head h, with t = query_start[s] + i, p = seq_lens[s] - q_len + i and g = h / G:
//   K(j) = key_cache[(slot(j) * num_kv_heads + g) * head_dim + 0..head_dim)
//   V(j) = value_cache[(slot(j) * num_kv_heads + g) * head_dim + 0..head_dim)
//   slot(j) = block_tables[s * max_blocks_per_seq + j / block_size] * block_size
//             + j % block_size
//   x_j = scale * dot(q[t * q_stride + h * head_dim + 0..head_dim), K(j)), j in [0, p]
//   out[(t * num_q_heads + h) * head_dim + 0..head_dim) = sum_j softmax(x)_j * V(j)
// i.e. the query token at position p sees KV positions 0..p, its own included: this
// step's K and V must already be in the cache (write_kv_cache). Only KV positions
// below seq_lens[s] are read, and only the block-table entries they need. Rows of out
// for tokens outside [query_start[0], query_start[num_seqs]) (padding) are not
// written.
//
// The softmax is online (a running max and sum per query, FlashAttention style),
// so the memory per query is O(head_dim) at any context length. When the batch has
// too few (query tile, kv head) pairs to fill the GPU, which is a small decode
// batch, the KV range is also split across blocks (flash-decoding) and a second
// kernel merges the partial results; its scratch comes from the stream-ordered
// allocator (cudaMallocAsync) and is freed on the stream after the merge. If that
// allocation fails, the launch runs unsplit instead: slower, the same result.
#include <cstddef>
#include <cstdint>

#include "kernels/bf16.hpp"
#include "kernels/cuda/stream.hpp"

namespace waypoint::kernels::cuda {

struct PagedAttentionArgs {
  bf16* out;      // [num_tokens, num_q_heads, head_dim]
  const bf16* q;  // [num_tokens, q_stride elements per token], heads contiguous at the
                  // start of each row
  std::size_t q_stride;
  const bf16* key_cache;  // one layer: [num_slots, num_kv_heads, head_dim], 16-byte aligned
  const bf16* value_cache;
  const std::int32_t* block_tables;  // [num_seqs, max_blocks_per_seq]
  const std::int32_t* query_start;   // [num_seqs + 1]: seq s owns query tokens
                                     // [query_start[s], query_start[s+1]); nondecreasing,
                                     // query_start[0] >= 0, query_start[num_seqs] <= num_tokens
  const std::int32_t* seq_lens;      // [num_seqs]: tokens of KV for seq s INCLUDING this
                                     // step's (already written to the cache); >= q_len
  int num_seqs, num_tokens, max_query_len, max_seq_len, max_blocks_per_seq;
  int num_q_heads, num_kv_heads, head_dim, block_size;
  float scale;  // usually 1/sqrt(head_dim)
};

// head_dim must be 16, 32, 64, 128 or 256, and num_q_heads a multiple of num_kv_heads.
// max_seq_len (the largest seq_lens[s]) and max_query_len only size the KV split and
// pick the tiling: wrong values cost speed, not correctness.
void paged_attention(const PagedAttentionArgs& args, Stream stream);

}  // namespace waypoint::kernels::cuda
