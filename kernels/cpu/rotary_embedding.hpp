#pragma once
// Rotary position embedding in the Hugging Face Llama ("rotate_half", neox) layout:
// within the first rotary_dim dims of a head, dim i pairs with dim i + rotary_dim/2,
//   x'[i]        = x[i] * cos(p * f_i) - x[i + half] * sin(p * f_i)
//   x'[i + half] = x[i + half] * cos(p * f_i) + x[i] * sin(p * f_i)
// and dims from rotary_dim to head_dim pass through.
#include <cstddef>
#include <cstdint>
#include <span>

namespace waypoint::kernels::cpu {

// vLLM's cos_sin_cache layout: row p is [cos(p * inv_freq[0..half)), sin(...)], so a
// row is rotary_dim floats and the cache is [max_positions, rotary_dim]. Built once
// per model so the per-token work is multiply-adds only.
void rope_cos_sin_cache(std::span<float> cache, std::size_t max_positions,
                        std::span<const float> inv_freq);

struct RotaryShape {
  std::size_t num_q_heads = 0;
  std::size_t num_kv_heads = 0;  // fewer than num_q_heads under GQA
  std::size_t head_dim = 0;
  std::size_t rotary_dim = 0;  // <= head_dim, even
};

// Rotates q [num_tokens, num_q_heads, head_dim] and k [num_tokens, num_kv_heads,
// head_dim] in place, token t by positions[t] (any order, any offsets). num_tokens is
// positions.size(); every position must be a row of cos_sin_cache.
void rotary_embedding(std::span<const std::int64_t> positions, std::span<float> q,
                      std::span<float> k, const RotaryShape& shape,
                      std::span<const float> cos_sin_cache);

}  // namespace waypoint::kernels::cpu
