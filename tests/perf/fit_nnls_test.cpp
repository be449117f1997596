// The NNLS solver: recovers known coefficients, and holds a coefficient at 0
// where unconstrained least squares would make it negative (the KKT
// conditions checked on the result).
#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "perf/fit_nnls.hpp"

namespace waypoint::fit {
namespace {

// Synthetic steps shaped like real ones: prefill-heavy and decode-heavy
// batches, contexts in the thousands.
TEST(FitNnls, RecoversBetaFromSyntheticSteps) {
  const std::vector<double> truth = {200, 0.5, 30, 0.01, 0.002, 5};
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int> prefill(0, 2048), decode(0, 64), ctx(16, 4096);
  std::normal_distribution<double> noise(0.0, 1.0);  // ~0.1% of a typical step
  constexpr std::size_t kRows = 2000;
  Matrix x(kRows, truth.size());
  std::vector<double> y(kRows);
  for (std::size_t r = 0; r < kRows; ++r) {
    const double p = prefill(rng) * (r % 3 == 0 ? 1.0 : 0.0);  // a third of steps prefill
    const double d = decode(rng);
    double dctx = 0;
    for (int i = 0; i < static_cast<int>(d); ++i) dctx += ctx(rng);
    const double pctx = p > 0 ? p + ctx(rng) : 0;
    const double batch = d + (p > 0 ? 1 + r % 4 : 0);
    const std::vector<double> row = {1, p, d, dctx, pctx, batch};
    double t = 0;
    for (std::size_t c = 0; c < row.size(); ++c) {
      x.at(r, c) = row[c];
      t += row[c] * truth[c];
    }
    y[r] = t + noise(rng);
  }
  auto solved = nnls(x, y);
  ASSERT_TRUE(solved) << solved.error().message;
  for (std::size_t c = 0; c < truth.size(); ++c) {
    EXPECT_NEAR(solved->x[c], truth[c], 0.01 * truth[c]) << "coefficient " << c;
  }
}

TEST(FitNnls, ClampsANegativeCoefficientToZeroWithKkt) {
  // y = 40 + 2 a - 3 b: unconstrained, b's coefficient is -3; NNLS must
  // return 0 for it and refit the others.
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(0, 10);
  constexpr std::size_t kRows = 200;
  Matrix x(kRows, 3);
  std::vector<double> y(kRows);
  for (std::size_t r = 0; r < kRows; ++r) {
    const double a = u(rng), b = u(rng);
    x.at(r, 0) = 1;
    x.at(r, 1) = a;
    x.at(r, 2) = b;
    y[r] = 40 + 2 * a - 3 * b;
  }
  auto ls = least_squares(x, y);
  ASSERT_TRUE(ls);
  EXPECT_NEAR((*ls)[2], -3.0, 1e-6);

  auto solved = nnls(x, y);
  ASSERT_TRUE(solved) << solved.error().message;
  EXPECT_EQ(solved->x[2], 0.0);
  for (double c : solved->x) EXPECT_GE(c, 0.0);

  // KKT: the gradient X^T (y - X x) is ~0 on the positive coefficients and
  // <= 0 on the zero ones (growing them would not reduce the residual).
  const std::vector<double> w = kkt_gradient(x, y, solved->x);
  double scale = 0;
  for (double v : y) scale += std::abs(v);
  for (std::size_t j = 0; j < w.size(); ++j) {
    if (solved->x[j] > 0) {
      EXPECT_NEAR(w[j], 0.0, 1e-8 * scale * 10) << "coefficient " << j;
    } else {
      EXPECT_LT(w[j], 0.0) << "coefficient " << j;
    }
  }
  // With b out, the rest is the least-squares fit of y on [1, a]: b's mean
  // (-15) moves into the intercept, and the slope on a stays ~2.
  EXPECT_NEAR(solved->x[0], 25.0, 3.0);
  EXPECT_NEAR(solved->x[1], 2.0, 0.3);
}

TEST(FitNnls, AllNegativeGivesZero) {
  Matrix x(3, 1);
  x.at(0, 0) = 1;
  x.at(1, 0) = 2;
  x.at(2, 0) = 3;
  auto solved = nnls(x, {-1, -2, -3});
  ASSERT_TRUE(solved);
  EXPECT_EQ(solved->x[0], 0.0);
}

TEST(FitNnls, RedundantColumnsStillSolve) {
  // An intercept and a batch size that never changes: the same column twice.
  Matrix x(4, 2);
  for (std::size_t r = 0; r < 4; ++r) {
    x.at(r, 0) = 1;
    x.at(r, 1) = 1;
  }
  auto solved = nnls(x, {5, 5, 5, 5});
  ASSERT_TRUE(solved) << solved.error().message;
  EXPECT_NEAR(solved->x[0] + solved->x[1], 5.0, 1e-6);
}

TEST(FitNnls, RejectsBadInput) {
  Matrix x(2, 1);
  EXPECT_FALSE(nnls(x, {1.0}));
  EXPECT_FALSE(nnls(Matrix{}, {}));
  x.at(0, 0) = std::nan("");
  EXPECT_FALSE(nnls(x, {1.0, 2.0}));
}

}  // namespace
}  // namespace waypoint::fit
