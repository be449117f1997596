// Open-loop arrivals: Poisson and gamma gaps with vLLM's parameterization.
#include "perf/bench_arrivals.hpp"

#include <cmath>
#include <numeric>

#include <gtest/gtest.h>

namespace waypoint::bench {
namespace {

struct GapStats {
  double mean;
  double cv;  // standard deviation / mean
};

GapStats gap_stats(const std::vector<double>& offsets) {
  std::vector<double> gaps;
  for (size_t i = 1; i < offsets.size(); ++i) gaps.push_back(offsets[i] - offsets[i - 1]);
  const double mean = std::accumulate(gaps.begin(), gaps.end(), 0.0) / gaps.size();
  double sq = 0;
  for (double g : gaps) sq += (g - mean) * (g - mean);
  return {mean, std::sqrt(sq / gaps.size()) / mean};
}

TEST(BenchArrivals, InfiniteRateSendsEverythingAtOnce) {
  std::mt19937_64 rng(1);
  const auto offsets = arrival_offsets(5, {std::numeric_limits<double>::infinity(), 1.0}, rng);
  EXPECT_EQ(offsets, std::vector<double>(5, 0.0));
}

TEST(BenchArrivals, PoissonHasTheRateAsMeanAndUnitCv) {
  std::mt19937_64 rng(7);
  const auto offsets = arrival_offsets(20001, {10.0, 1.0}, rng);
  EXPECT_EQ(offsets.front(), 0.0);
  EXPECT_TRUE(std::is_sorted(offsets.begin(), offsets.end()));
  const GapStats s = gap_stats(offsets);
  // The mean of 20000 exponential gaps: standard error 0.1/sqrt(20000) = 0.0007.
  EXPECT_NEAR(s.mean, 0.1, 0.003);
  EXPECT_NEAR(s.cv, 1.0, 0.05);
}

TEST(BenchArrivals, BurstinessKeepsTheRateAndChangesTheVariance) {
  // Gamma(shape k, scale 1/(rate k)): mean 1/rate, CV 1/sqrt(k).
  for (const double k : {0.25, 4.0}) {
    std::mt19937_64 rng(11);
    const GapStats s = gap_stats(arrival_offsets(20001, {10.0, k}, rng));
    EXPECT_NEAR(s.mean, 0.1, 0.005) << "burstiness " << k;
    EXPECT_NEAR(s.cv, 1.0 / std::sqrt(k), 0.1 / std::sqrt(k)) << "burstiness " << k;
  }
}

TEST(BenchArrivals, SameSeedSameArrivals) {
  std::mt19937_64 a(3), b(3);
  EXPECT_EQ(arrival_offsets(100, {5.0, 0.5}, a), arrival_offsets(100, {5.0, 0.5}, b));
}

TEST(BenchArrivals, RejectsNonPositiveRateOrBurstiness) {
  EXPECT_FALSE(validate({0.0, 1.0}));
  EXPECT_FALSE(validate({-1.0, 1.0}));
  EXPECT_FALSE(validate({1.0, 0.0}));
  EXPECT_TRUE(validate({std::numeric_limits<double>::infinity(), 1.0}));
}

}  // namespace
}  // namespace waypoint::bench
