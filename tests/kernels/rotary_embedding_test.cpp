#include "kernels/cpu/rotary_embedding.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "kernels/cpu/rope_inv_freq.hpp"
#include "tests/kernels/test_support.hpp"

namespace waypoint::kernels::cpu {
namespace {

using testing::random_floats;

constexpr double kTheta = 10000.0;
constexpr std::size_t kMaxPositions = 4096;

struct Rope {
  RotaryShape shape;
  std::vector<float> inv_freq;
  std::vector<float> cache;
};

Rope make_rope(RotaryShape shape) {
  std::vector<float> inv_freq(shape.rotary_dim / 2);
  rope_inv_freq(inv_freq, shape.rotary_dim, kTheta);
  std::vector<float> cache(kMaxPositions * shape.rotary_dim);
  rope_cos_sin_cache(cache, kMaxPositions, inv_freq);
  return {shape, std::move(inv_freq), std::move(cache)};
}

// Rotated pairs are compared with a tolerance relative to the pair's length, which
// rotation preserves; a single element can legitimately be near zero.
void expect_pairs_close(const std::vector<float>& actual, const std::vector<double>& expected,
                        std::size_t head_dim, std::size_t rotary_dim, double rel) {
  ASSERT_EQ(actual.size(), expected.size());
  const std::size_t half = rotary_dim / 2;
  for (std::size_t head = 0; head < actual.size() / head_dim; ++head) {
    const std::size_t base = head * head_dim;
    for (std::size_t i = 0; i < half; ++i) {
      const double a = expected[base + i], b = expected[base + half + i];
      const double tol = rel * std::hypot(a, b) + 1e-30;
      EXPECT_NEAR(actual[base + i], a, tol) << "head " << head << " dim " << i;
      EXPECT_NEAR(actual[base + half + i], b, tol) << "head " << head << " dim " << half + i;
    }
    for (std::size_t j = rotary_dim; j < head_dim; ++j) {
      EXPECT_EQ(actual[base + j], expected[base + j]) << "pass-through dim " << j;
    }
  }
}

// The Hugging Face rotate_half formula in double, from the same float inv_freq the
// kernel's cache was built from: inv_freq's own rounding (tested elsewhere) would
// otherwise grow with the position to ~1e-4 at 4095 and swamp the comparison.
std::vector<double> reference_rotate(const std::vector<float>& x,
                                     const std::vector<std::int64_t>& positions,
                                     const std::vector<float>& inv_freq, std::size_t num_heads,
                                     std::size_t head_dim, std::size_t rotary_dim) {
  std::vector<double> out(x.begin(), x.end());
  const std::size_t half = rotary_dim / 2;
  for (std::size_t t = 0; t < positions.size(); ++t) {
    for (std::size_t h = 0; h < num_heads; ++h) {
      const std::size_t base = (t * num_heads + h) * head_dim;
      for (std::size_t i = 0; i < half; ++i) {
        const double angle = static_cast<double>(positions[t]) * inv_freq[i];
        const double x1 = x[base + i], x2 = x[base + half + i];
        out[base + i] = x1 * std::cos(angle) - x2 * std::sin(angle);
        out[base + half + i] = x2 * std::cos(angle) + x1 * std::sin(angle);
      }
    }
  }
  return out;
}

TEST(KernelsRotaryEmbedding, PositionZeroIsIdentity) {
  const Rope rope =
      make_rope({.num_q_heads = 4, .num_kv_heads = 2, .head_dim = 64, .rotary_dim = 64});
  const std::vector<std::int64_t> positions(3, 0);
  const auto q0 = random_floats(3 * 4 * 64, 21);
  const auto k0 = random_floats(3 * 2 * 64, 22);
  auto q = q0, k = k0;
  rotary_embedding(positions, q, k, rope.shape, rope.cache);
  EXPECT_EQ(q, q0);
  EXPECT_EQ(k, k0);
}

TEST(KernelsRotaryEmbedding, MatchesDoubleReferenceWithGqaAndAnyPositions) {
  // 8 query heads share 2 KV heads; positions are unsorted, repeated and offset, as
  // in a batch mixing prefill chunks and decodes.
  for (const std::size_t rotary_dim : {std::size_t{64}, std::size_t{32}}) {
    const RotaryShape shape{
        .num_q_heads = 8, .num_kv_heads = 2, .head_dim = 64, .rotary_dim = rotary_dim};
    const Rope rope = make_rope(shape);
    const std::vector<std::int64_t> positions = {7, 0, 4095, 123, 123, 1, 2048};
    const auto q0 = random_floats(positions.size() * 8 * 64, 23);
    const auto k0 = random_floats(positions.size() * 2 * 64, 24);
    auto q = q0, k = k0;
    rotary_embedding(positions, q, k, shape, rope.cache);
    SCOPED_TRACE("rotary_dim " + std::to_string(rotary_dim));
    expect_pairs_close(q, reference_rotate(q0, positions, rope.inv_freq, 8, 64, rotary_dim), 64,
                       rotary_dim, 1e-5);
    expect_pairs_close(k, reference_rotate(k0, positions, rope.inv_freq, 2, 64, rotary_dim), 64,
                       rotary_dim, 1e-5);
  }
}

TEST(KernelsRotaryEmbedding, QueryAndKeyHeadsGetTheSameRotation) {
  // Every head of q and k starts as the same vector, so after rotation by the same
  // position they must all be equal, whatever the head counts.
  const RotaryShape shape{.num_q_heads = 6, .num_kv_heads = 2, .head_dim = 32, .rotary_dim = 32};
  const Rope rope = make_rope(shape);
  const auto v = random_floats(32, 25);
  std::vector<float> q, k;
  for (int h = 0; h < 6; ++h) q.insert(q.end(), v.begin(), v.end());
  for (int h = 0; h < 2; ++h) k.insert(k.end(), v.begin(), v.end());
  const std::vector<std::int64_t> positions = {300};
  rotary_embedding(positions, q, k, shape, rope.cache);
  const std::vector<float> rotated(q.begin(), q.begin() + 32);
  EXPECT_NE(rotated, v);
  for (int h = 0; h < 6; ++h)
    EXPECT_EQ(std::vector<float>(q.begin() + h * 32, q.begin() + (h + 1) * 32), rotated);
  for (int h = 0; h < 2; ++h)
    EXPECT_EQ(std::vector<float>(k.begin() + h * 32, k.begin() + (h + 1) * 32), rotated);
}

TEST(KernelsRotaryEmbedding, RotationsCompose) {
  const RotaryShape shape{.num_q_heads = 4, .num_kv_heads = 1, .head_dim = 128, .rotary_dim = 128};
  const Rope rope = make_rope(shape);
  for (const auto& [p1, p2] :
       {std::pair<std::int64_t, std::int64_t>{1, 1}, {5, 37}, {1000, 2000}, {4000, 95}}) {
    const auto q0 = random_floats(4 * 128, 26);
    const auto k0 = random_floats(128, 27);
    auto q_twice = q0, k_twice = k0;
    rotary_embedding(std::vector<std::int64_t>{p1}, q_twice, k_twice, shape, rope.cache);
    rotary_embedding(std::vector<std::int64_t>{p2}, q_twice, k_twice, shape, rope.cache);
    auto q_once = q0, k_once = k0;
    rotary_embedding(std::vector<std::int64_t>{p1 + p2}, q_once, k_once, shape, rope.cache);
    SCOPED_TRACE("p1 " + std::to_string(p1) + ", p2 " + std::to_string(p2));
    expect_pairs_close(q_twice, std::vector<double>(q_once.begin(), q_once.end()), 128, 128, 1e-5);
    expect_pairs_close(k_twice, std::vector<double>(k_once.begin(), k_once.end()), 128, 128, 1e-5);
  }
}

TEST(KernelsRotaryEmbedding, PreservesNorms) {
  const RotaryShape shape{.num_q_heads = 4, .num_kv_heads = 4, .head_dim = 64, .rotary_dim = 64};
  const Rope rope = make_rope(shape);
  const std::vector<std::int64_t> positions = {1, 17, 511, 4095};
  const auto q0 = random_floats(4 * 4 * 64, 28);
  auto q = q0, k = q0;
  rotary_embedding(positions, q, k, shape, rope.cache);
  // Rotation acts on the pairs (i, i + 32) of each head: each pair's length, and so
  // the head's, must stay.
  const std::size_t half = 32;
  for (std::size_t head = 0; head < q.size() / 64; ++head) {
    double before = 0.0, after = 0.0;
    for (std::size_t i = 0; i < half; ++i) {
      const std::size_t a = head * 64 + i, b = a + half;
      const double pair_before = std::hypot(double{q0[a]}, double{q0[b]});
      const double pair_after = std::hypot(double{q[a]}, double{q[b]});
      EXPECT_NEAR(pair_after, pair_before, 1e-5 * pair_before) << "head " << head << " pair " << i;
      before += pair_before * pair_before;
      after += pair_after * pair_after;
    }
    EXPECT_NEAR(std::sqrt(after), std::sqrt(before), 1e-5 * std::sqrt(before)) << "head " << head;
  }
}

TEST(KernelsRotaryEmbedding, RejectsBadShapesAndPositions) {
  const RotaryShape shape{.num_q_heads = 4, .num_kv_heads = 2, .head_dim = 16, .rotary_dim = 16};
  const Rope rope = make_rope(shape);
  std::vector<float> q(4 * 16), k(2 * 16), k_as_mha(4 * 16);
  EXPECT_NO_THROW(rotary_embedding(std::vector<std::int64_t>{0}, q, k, shape, rope.cache));
  EXPECT_THROW(rotary_embedding(std::vector<std::int64_t>{0}, q, k_as_mha, shape, rope.cache),
               std::invalid_argument);
  EXPECT_THROW(rotary_embedding(std::vector<std::int64_t>{kMaxPositions}, q, k, shape, rope.cache),
               std::out_of_range);
  EXPECT_THROW(rotary_embedding(std::vector<std::int64_t>{-1}, q, k, shape, rope.cache),
               std::out_of_range);
  RotaryShape odd = shape;
  odd.rotary_dim = 15;
  EXPECT_THROW(rotary_embedding(std::vector<std::int64_t>{0}, q, k, odd, rope.cache),
               std::invalid_argument);
}

}  // namespace
}  // namespace waypoint::kernels::cpu
