#include "kernels/cpu/rotary_embedding.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/cpu/shape_check.hpp"

namespace waypoint::kernels::cpu {
namespace {

void rotate_heads(float* heads, std::size_t num_heads, std::size_t head_dim, std::size_t half,
                  const float* cos, const float* sin) {
  for (std::size_t h = 0; h < num_heads; ++h) {
    float* lo = heads + h * head_dim;
    float* hi = lo + half;
    for (std::size_t i = 0; i < half; ++i) {
      const float x1 = lo[i];
      const float x2 = hi[i];
      lo[i] = x1 * cos[i] - x2 * sin[i];
      hi[i] = x2 * cos[i] + x1 * sin[i];
    }
  }
}

}  // namespace

void rope_cos_sin_cache(std::span<float> cache, std::size_t max_positions,
                        std::span<const float> inv_freq) {
  const std::size_t half = inv_freq.size();
  const std::size_t rotary_dim = 2 * half;
  detail::require(half > 0, "rope_cos_sin_cache: inv_freq is empty");
  detail::require_size(cache.size(), max_positions * rotary_dim, "rope_cos_sin_cache: cache");
  for (std::size_t p = 0; p < max_positions; ++p) {
    float* row = cache.data() + p * rotary_dim;
    for (std::size_t i = 0; i < half; ++i) {
      // The angle in double: a float product loses whole milliradians at positions
      // near 1e5, where a float has ~0.008 resolution.
      const double angle = static_cast<double>(p) * static_cast<double>(inv_freq[i]);
      row[i] = static_cast<float>(std::cos(angle));
      row[half + i] = static_cast<float>(std::sin(angle));
    }
  }
}

void rotary_embedding(std::span<const std::int64_t> positions, std::span<float> q,
                      std::span<float> k, const RotaryShape& shape,
                      std::span<const float> cos_sin_cache) {
  const std::size_t num_tokens = positions.size();
  const std::size_t rotary_dim = shape.rotary_dim;
  detail::require(rotary_dim > 0 && rotary_dim % 2 == 0 && rotary_dim <= shape.head_dim,
                  "rotary_embedding: rotary_dim must be even, positive and <= head_dim");
  detail::require_size(q.size(), num_tokens * shape.num_q_heads * shape.head_dim,
                       "rotary_embedding: q");
  detail::require_size(k.size(), num_tokens * shape.num_kv_heads * shape.head_dim,
                       "rotary_embedding: k");
  detail::require(cos_sin_cache.size() % rotary_dim == 0,
                  "rotary_embedding: cos_sin_cache is not [max_positions, rotary_dim]");
  const auto max_positions = static_cast<std::int64_t>(cos_sin_cache.size() / rotary_dim);
  const std::size_t half = rotary_dim / 2;
  const std::size_t q_stride = shape.num_q_heads * shape.head_dim;
  const std::size_t k_stride = shape.num_kv_heads * shape.head_dim;

  for (std::size_t t = 0; t < num_tokens; ++t) {
    const std::int64_t pos = positions[t];
    if (pos < 0 || pos >= max_positions) {
      throw std::out_of_range("rotary_embedding: position " + std::to_string(pos) +
                              " outside the cos/sin cache of " + std::to_string(max_positions) +
                              " positions");
    }
    const float* cos = cos_sin_cache.data() + static_cast<std::size_t>(pos) * rotary_dim;
    const float* sin = cos + half;
    rotate_heads(q.data() + t * q_stride, shape.num_q_heads, shape.head_dim, half, cos, sin);
    rotate_heads(k.data() + t * k_stride, shape.num_kv_heads, shape.head_dim, half, cos, sin);
  }
}

}  // namespace waypoint::kernels::cpu
