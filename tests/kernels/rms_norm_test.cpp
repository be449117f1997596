#include "kernels/cpu/rms_norm.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "tests/kernels/test_support.hpp"

namespace waypoint::kernels::cpu {
namespace {

using testing::all_close;
using testing::random_floats;

constexpr float kEps = 1e-5f;

std::vector<double> reference_rms_norm(const std::vector<float>& x,
                                       const std::vector<float>& weight, std::size_t hidden,
                                       double eps) {
  std::vector<double> out(x.size());
  for (std::size_t t = 0; t < x.size() / hidden; ++t) {
    double sum_sq = 0.0;
    for (std::size_t j = 0; j < hidden; ++j)
      sum_sq += double{x[t * hidden + j]} * x[t * hidden + j];
    const double inv_rms = 1.0 / std::sqrt(sum_sq / static_cast<double>(hidden) + eps);
    for (std::size_t j = 0; j < hidden; ++j) {
      out[t * hidden + j] = x[t * hidden + j] * inv_rms * weight[j];
    }
  }
  return out;
}

struct Shape {
  std::size_t num_tokens;
  std::size_t hidden;
};

class KernelsRmsNorm : public ::testing::TestWithParam<Shape> {};

TEST_P(KernelsRmsNorm, MatchesDoubleReference) {
  const auto [num_tokens, hidden] = GetParam();
  const auto x = random_floats(num_tokens * hidden, 1);
  const auto weight = random_floats(hidden, 2, 0.5f, 1.5f);
  std::vector<float> out(x.size());
  rms_norm(out, x, weight, num_tokens, hidden, kEps);
  EXPECT_TRUE(all_close(out, reference_rms_norm(x, weight, hidden, kEps), 1e-5));
}

TEST_P(KernelsRmsNorm, FusedAddUpdatesResidualAndNormalizesIt) {
  const auto [num_tokens, hidden] = GetParam();
  const auto x = random_floats(num_tokens * hidden, 3);
  const auto residual_before = random_floats(num_tokens * hidden, 4);
  const auto weight = random_floats(hidden, 5, 0.5f, 1.5f);
  std::vector<float> residual = residual_before;
  std::vector<float> out(x.size());
  fused_add_rms_norm(out, x, residual, weight, num_tokens, hidden, kEps);

  std::vector<float> expected_residual(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) expected_residual[i] = residual_before[i] + x[i];
  EXPECT_EQ(residual, expected_residual);
  EXPECT_TRUE(all_close(out, reference_rms_norm(expected_residual, weight, hidden, kEps), 1e-5));
}

// Odd sizes exercise the reduction tails; 2048 is Llama 3.2 1B's hidden size.
INSTANTIATE_TEST_SUITE_P(Shapes, KernelsRmsNorm,
                         ::testing::Values(Shape{1, 1}, Shape{3, 15}, Shape{5, 1000},
                                           Shape{4, 2048}),
                         [](const auto& info) {
                           return std::to_string(info.param.num_tokens) + "x" +
                                  std::to_string(info.param.hidden);
                         });

TEST(KernelsRmsNormInPlace, OutMayBeX) {
  constexpr std::size_t kTokens = 3, kHidden = 100;
  const auto x = random_floats(kTokens * kHidden, 6);
  const auto weight = random_floats(kHidden, 7);
  std::vector<float> expected(x.size());
  rms_norm(expected, x, weight, kTokens, kHidden, kEps);
  std::vector<float> in_place = x;
  rms_norm(in_place, in_place, weight, kTokens, kHidden, kEps);
  EXPECT_EQ(in_place, expected);

  const auto residual_before = random_floats(x.size(), 8);
  std::vector<float> residual = residual_before;
  fused_add_rms_norm(expected, x, residual, weight, kTokens, kHidden, kEps);
  in_place = x;
  residual = residual_before;
  fused_add_rms_norm(in_place, in_place, residual, weight, kTokens, kHidden, kEps);
  EXPECT_EQ(in_place, expected);
}

TEST(KernelsRmsNormEdges, ZeroRowGivesZerosNotNaN) {
  const std::vector<float> x(64, 0.0f);
  const std::vector<float> weight(64, 1.0f);
  std::vector<float> out(64, 1.0f);
  rms_norm(out, x, weight, 1, 64, kEps);
  EXPECT_EQ(out, x);
}

TEST(KernelsRmsNormEdges, RejectsMismatchedSizes) {
  std::vector<float> x(10), out(10), weight(5), residual(9);
  EXPECT_THROW(rms_norm(out, x, weight, 2, 4, kEps), std::invalid_argument);
  EXPECT_THROW(rms_norm(out, x, std::span<const float>(weight).first(4), 2, 5, kEps),
               std::invalid_argument);
  EXPECT_THROW(fused_add_rms_norm(out, x, residual, weight, 2, 5, kEps), std::invalid_argument);
  EXPECT_NO_THROW(rms_norm(out, x, weight, 2, 5, kEps));
}

}  // namespace
}  // namespace waypoint::kernels::cpu
