#include "kernels/cpu/softmax.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <vector>

#include "tests/kernels/test_support.hpp"

namespace waypoint::kernels::cpu {
namespace {

using testing::all_close;
using testing::random_floats;

std::vector<double> reference_softmax(const std::vector<float>& x) {
  double max = x[0];
  for (float v : x) max = std::max(max, double{v});
  std::vector<double> out(x.size());
  double sum = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) sum += out[i] = std::exp(x[i] - max);
  for (double& v : out) v /= sum;
  return out;
}

double sum_of(const std::vector<float>& x) { return std::accumulate(x.begin(), x.end(), 0.0); }

TEST(KernelsSoftmax, MatchesDoubleReferenceAndSumsToOne) {
  // 128256 is Llama 3's vocabulary, the row length when sampling.
  for (const std::size_t n :
       {std::size_t{1}, std::size_t{7}, std::size_t{1000}, std::size_t{128256}}) {
    const auto x = random_floats(n, 31, -10.0f, 10.0f);
    auto row = x;
    softmax(row);
    EXPECT_TRUE(all_close(row, reference_softmax(x), 1e-5)) << "n = " << n;
    EXPECT_NEAR(sum_of(row), 1.0, 1e-5) << "n = " << n;
  }
}

TEST(KernelsSoftmax, SurvivesHugeLogits) {
  std::vector<float> row = {1000.0f, -1000.0f, 0.0f, 1000.0f};
  softmax(row);
  EXPECT_EQ(row, (std::vector<float>{0.5f, 0.0f, 0.0f, 0.5f}));

  row = {-1000.0f, -1000.0f};
  softmax(row);
  EXPECT_EQ(row, (std::vector<float>{0.5f, 0.5f}));

  row = {88.0f, 89.0f, 90.0f};  // exp(90) alone would overflow a float
  softmax(row);
  for (float v : row) EXPECT_TRUE(std::isfinite(v));
  EXPECT_TRUE(all_close(row, reference_softmax({88.0f, 89.0f, 90.0f}), 1e-5));
}

TEST(KernelsSoftmax, NegativeInfinityMasksOut) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> row = {-inf, 0.0f, -inf, 0.0f};
  softmax(row);
  EXPECT_EQ(row, (std::vector<float>{0.0f, 0.5f, 0.0f, 0.5f}));
}

TEST(KernelsSoftmax, EmptyRowIsANoOp) {
  std::vector<float> row;
  softmax(row);
  EXPECT_TRUE(row.empty());
}

}  // namespace
}  // namespace waypoint::kernels::cpu
