// CPU paged attention against an f64 reference: head_dim 16 to 256, GQA 1:1 to
// 8:1, block sizes 5 and 16, contexts of one token to 2,048, block tables in
// shuffled order, and a prefill chunk whose tokens see growing contexts.
#include "kernels/cpu/paged_attention.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "tests/kernels/test_support.hpp"

namespace waypoint::kernels::cpu {
namespace {

using testing::random_floats;

struct Shape {
  int32_t head_dim, q_heads, kv_heads, block_size;
  int64_t context;  // the last query's context; QUERIES tokens end there
  int64_t queries;
};

// out[h] = softmax(q_h · K^T * scale) V over positions [0, n), in f64.
std::vector<double> reference(const std::vector<float>& q, const std::vector<float>& key,
                              const std::vector<float>& value, const std::vector<int32_t>& blocks,
                              const Shape& s, int64_t n, int64_t query) {
  const int64_t d = s.head_dim;
  const int32_t group = s.q_heads / s.kv_heads;
  const int64_t stride = int64_t{s.kv_heads} * d;
  std::vector<double> out(static_cast<size_t>(s.q_heads * d), 0.0);
  for (int32_t h = 0; h < s.q_heads; ++h) {
    const int64_t g = h / group;
    std::vector<double> score(static_cast<size_t>(n));
    for (int64_t j = 0; j < n; ++j) {
      const int64_t slot =
          int64_t{blocks[static_cast<size_t>(j / s.block_size)]} * s.block_size + j % s.block_size;
      double dot = 0.0;
      for (int64_t e = 0; e < d; ++e) {
        dot += double{q[static_cast<size_t>(query * s.q_heads * d + h * d + e)]} *
               key[static_cast<size_t>(slot * stride + g * d + e)];
      }
      score[static_cast<size_t>(j)] = dot / std::sqrt(double(d));
    }
    const double mx = *std::max_element(score.begin(), score.end());
    double denom = 0.0;
    for (double& v : score) denom += (v = std::exp(v - mx));
    for (int64_t j = 0; j < n; ++j) {
      const int64_t slot =
          int64_t{blocks[static_cast<size_t>(j / s.block_size)]} * s.block_size + j % s.block_size;
      for (int64_t e = 0; e < d; ++e) {
        out[static_cast<size_t>(h * d + e)] +=
            score[static_cast<size_t>(j)] / denom *
            value[static_cast<size_t>(slot * stride + g * d + e)];
      }
    }
  }
  return out;
}

TEST(PagedAttention, MatchesReference) {
  const Shape shapes[] = {{16, 4, 4, 5, 1, 1},   {64, 8, 2, 16, 37, 3},    {128, 8, 1, 16, 300, 2},
                          {256, 2, 2, 5, 64, 1}, {64, 32, 8, 16, 2048, 1}, {80, 6, 3, 5, 130, 130}};
  ThreadPool pool(3);
  PagedAttention attention(pool);
  for (const Shape& s : shapes) {
    SCOPED_TRACE("d=" + std::to_string(s.head_dim) + " q=" + std::to_string(s.q_heads) +
                 " kv=" + std::to_string(s.kv_heads) + " bs=" + std::to_string(s.block_size) +
                 " ctx=" + std::to_string(s.context) + " queries=" + std::to_string(s.queries));
    const int64_t num_blocks = (s.context + s.block_size - 1) / s.block_size + 3;
    std::vector<int32_t> blocks(static_cast<size_t>(num_blocks));
    std::iota(blocks.begin(), blocks.end(), 0);
    std::shuffle(blocks.begin(), blocks.end(), std::mt19937(7));
    const int64_t stride = int64_t{s.kv_heads} * s.head_dim;
    const auto slots = static_cast<size_t>(num_blocks * s.block_size);
    const auto key = random_floats(slots * static_cast<size_t>(stride), 1, -1.0f, 1.0f);
    const auto value = random_floats(slots * static_cast<size_t>(stride), 2, -1.0f, 1.0f);
    const int64_t width = int64_t{s.q_heads} * s.head_dim;
    const auto q = random_floats(static_cast<size_t>(s.queries * width), 3, -1.0f, 1.0f);
    std::vector<AttentionQuery> queries;
    for (int64_t t = 0; t < s.queries; ++t) {
      queries.push_back({.context_len = s.context - s.queries + 1 + t, .block_ids = blocks.data()});
    }
    std::vector<float> out(static_cast<size_t>(s.queries * width), NAN);
    const PagedKv kv{.key = key.data(),
                     .value = value.data(),
                     .slot_stride = stride,
                     .block_size = s.block_size};
    const AttentionShape shape{.q_heads = s.q_heads,
                               .kv_heads = s.kv_heads,
                               .head_dim = s.head_dim,
                               .scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim))};
    attention(queries, q.data(), kv, shape, out.data());
    for (int64_t t = 0; t < s.queries; ++t) {
      const auto expected =
          reference(q, key, value, blocks, s, queries[static_cast<size_t>(t)].context_len, t);
      EXPECT_TRUE(
          testing::all_close(std::span<const float>(out).subspan(static_cast<size_t>(t * width),
                                                                 static_cast<size_t>(width)),
                             expected, 1e-4, 1e-5))
          << "query " << t;
    }
  }
}

}  // namespace
}  // namespace waypoint::kernels::cpu
