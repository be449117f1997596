#pragma once
// Rotary position embedding on the device for bf16 q and k, with f32 math; the
// semantics of kernels/cpu/rotary_embedding.hpp (Hugging Face Llama "rotate_half",
// neox layout): within the first rotary_dim dims of a head, dim i pairs with dim
// i + rotary_dim/2,
//   x'[i]        = x[i] * cos(p * f_i) - x[i + half] * sin(p * f_i)
//   x'[i + half] = x[i + half] * cos(p * f_i) + x[i] * sin(p * f_i)
// and dims from rotary_dim to head_dim pass through. All pointers are device
// pointers. The launch is asynchronous on `stream`; a launch that fails throws
// std::runtime_error, and bad sizes throw std::invalid_argument.
#include <cstddef>
#include <cstdint>

#include "kernels/bf16.hpp"
#include "kernels/cuda/stream.hpp"

namespace waypoint::kernels::cuda {

// The same shape as kernels::cpu::RotaryShape, declared here too so that this header
// stays independent of the CPU kernels.
struct RotaryShape {
  std::size_t num_q_heads = 0;
  std::size_t num_kv_heads = 0;  // fewer than num_q_heads under GQA
  std::size_t head_dim = 0;
  std::size_t rotary_dim = 0;  // <= head_dim, even
};

// Rotates, in place, q (num_tokens rows of num_q_heads * head_dim, row t starting at
// t * q_stride elements) and k (num_kv_heads * head_dim per row, stride k_stride),
// token t by positions[t]: q and k may be views into one fused qkv buffer.
// cos_sin_cache is kernels::cpu::rope_cos_sin_cache's table, [max_positions,
// rotary_dim] floats, copied to the device. The device cannot throw, so the host
// must check positions against max_positions as the CPU kernel does; a negative
// position leaves its token untouched rather than read before the cache.
void rotary_embedding(const std::int64_t* positions, bf16* q, bf16* k, std::size_t num_tokens,
                      std::size_t q_stride, std::size_t k_stride, const RotaryShape& shape,
                      const float* cos_sin_cache, Stream stream);

}  // namespace waypoint::kernels::cuda
