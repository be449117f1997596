#include <cmath>
#include <map>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "worker/sampler.hpp"

namespace waypoint {
namespace {

std::vector<float> logits_of(std::vector<float> probs) {
  std::vector<float> l;
  for (float p : probs) l.push_back(std::log(p));
  return l;
}

SamplingParams params(float temperature, int32_t top_k = 0, float top_p = 1.0f,
                      float min_p = 0.0f) {
  SamplingParams p;
  p.temperature = temperature;
  p.top_k = top_k;
  p.top_p = top_p;
  p.min_p = min_p;
  return p;
}

// Draws n samples and counts them by token.
std::map<TokenId, int> draw(const std::vector<float>& logits, const SamplingParams& p, int n,
                            uint64_t seed) {
  Sampler sampler;
  std::mt19937_64 rng(seed);
  std::map<TokenId, int> counts;
  for (int i = 0; i < n; ++i) {
    auto l = logits;
    ++counts[sampler.sample(l, p, rng)];
  }
  return counts;
}

TEST(Sampler, ZeroTemperatureIsGreedyWithTiesToTheLowestId) {
  Sampler sampler;
  std::mt19937_64 rng(1);
  std::vector<float> l{0.1f, 2.0f, 2.0f, -1.0f};
  EXPECT_EQ(sampler.sample(l, params(0.0f), rng), 1);
  EXPECT_EQ(argmax(std::vector<float>{3.0f, 3.0f}), 0);
}

TEST(Sampler, TopKOneAndTinyTopPAreGreedy) {
  const auto l = logits_of({0.1f, 0.2f, 0.6f, 0.1f});
  EXPECT_EQ(draw(l, params(1.0f, 1), 200, 3), (std::map<TokenId, int>{{2, 200}}));
  EXPECT_EQ(draw(l, params(1.0f, 0, 0.01f), 200, 3), (std::map<TokenId, int>{{2, 200}}));
}

TEST(Sampler, TopKKeepsOnlyTheKMostLikely) {
  const auto l = logits_of({0.05f, 0.3f, 0.4f, 0.25f});
  auto counts = draw(l, params(1.0f, 2), 4000, 5);
  EXPECT_EQ(counts.count(0), 0u);
  EXPECT_EQ(counts.count(3), 0u);
  // 0.3 : 0.4 renormalised is 3/7 : 4/7.
  EXPECT_NEAR(counts[2] / 4000.0, 4.0 / 7.0, 0.03);
}

TEST(Sampler, TopPKeepsTheSmallestSetReachingP) {
  const auto l = logits_of({0.5f, 0.3f, 0.15f, 0.05f});
  auto counts = draw(l, params(1.0f, 0, 0.75f), 4000, 6);
  EXPECT_EQ(counts.count(2), 0u);  // 0.5 + 0.3 already reaches 0.75
  EXPECT_EQ(counts.count(3), 0u);
  EXPECT_NEAR(counts[0] / 4000.0, 0.5 / 0.8, 0.03);
}

TEST(Sampler, MinPDropsTokensBelowAFractionOfTheTop) {
  const auto l = logits_of({0.6f, 0.3f, 0.09f, 0.01f});
  auto counts = draw(l, params(1.0f, 0, 1.0f, 0.2f), 4000, 7);  // floor 0.12
  EXPECT_EQ(counts.count(2), 0u);
  EXPECT_EQ(counts.count(3), 0u);
  EXPECT_NEAR(counts[0] / 4000.0, 0.6 / 0.9, 0.03);
}

TEST(Sampler, TemperatureMatchesTheSoftmaxDistribution) {
  const auto l = logits_of({0.5f, 0.3f, 0.2f});
  auto counts = draw(l, params(1.0f), 6000, 8);
  EXPECT_NEAR(counts[0] / 6000.0, 0.5, 0.03);
  EXPECT_NEAR(counts[1] / 6000.0, 0.3, 0.03);
  // Temperature 0.5 squares the odds: 25:9:4.
  auto sharp = draw(l, params(0.5f), 6000, 9);
  EXPECT_NEAR(sharp[0] / 6000.0, 25.0 / 38.0, 0.03);
}

TEST(Sampler, SameSeedSameTokens) {
  const auto l = logits_of({0.25f, 0.25f, 0.25f, 0.25f});
  EXPECT_EQ(draw(l, params(1.0f), 50, 42), draw(l, params(1.0f), 50, 42));
  EXPECT_NE(draw(l, params(1.0f), 50, 42), draw(l, params(1.0f), 50, 43));
}

}  // namespace
}  // namespace waypoint
