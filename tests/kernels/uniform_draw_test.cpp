// The host side of the sampling kernel's random number: the function the device
// calls, run by g++, so a CPU-only build checks what a seeded request will draw.
#include "kernels/cuda/uniform_draw.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <vector>

#include "base/splitmix64.hpp"

namespace waypoint::kernels {
namespace {

using cuda::uniform_from;

// Usable in constant expressions, as the header promises the host.
static_assert(uniform_from(0, 0) >= 0.0 && uniform_from(0, 0) < 1.0);

TEST(UniformDraw, IsSplitMix64StreamOfTheHashedSeed) {
  constexpr std::uint64_t kGamma = 0x9e3779b97f4a7c15ULL;
  for (std::uint64_t seed : {0ULL, 1ULL, 42ULL, ~0ULL}) {
    for (std::uint64_t offset : {0ULL, 1ULL, 2ULL, 1000ULL, ~0ULL}) {
      EXPECT_EQ(uniform_from(seed, offset),
                unit_interval(splitmix64(splitmix64(seed) + offset * kGamma)))
          << "seed " << seed << " offset " << offset;
    }
  }
  // The kernel header's copy of the mixer is proto's.
  for (std::uint64_t x : {0ULL, 1ULL, 0x123456789abcdefULL, ~0ULL}) {
    EXPECT_EQ(cuda::draw_splitmix64(x), splitmix64(x));
  }
}

// Pinned: a change here changes the tokens every seeded request samples on the device.
TEST(UniformDraw, PinnedValues) {
  EXPECT_EQ(uniform_from(0, 0) * 0x1.0p53, 5876733520225071.0);
  EXPECT_EQ(uniform_from(0, 1) * 0x1.0p53, 6315957190297641.0);
  EXPECT_EQ(uniform_from(42, 7) * 0x1.0p53, 6617773565905164.0);
  EXPECT_EQ(uniform_from(~0ULL, 123456789) * 0x1.0p53, 2612446041810512.0);
}

// Along offsets (one request's tokens) and along seeds at one offset (the first token
// of requests with nearby seeds): in [0, 1), all distinct, mean 1/2 and variance 1/12
// within 5 standard errors, and an even spread over 16 bins.
TEST(UniformDraw, UniformAlongOffsetsAndAcrossSeeds) {
  constexpr int kN = 100000;
  constexpr int kBins = 16;
  for (bool along_offsets : {true, false}) {
    SCOPED_TRACE(along_offsets ? "offsets 0.. of seed 7" : "seeds 0.. at offset 3");
    std::set<double> seen;
    std::vector<int> bins(kBins, 0);
    double sum = 0.0;
    double sum_sq = 0.0;
    for (int i = 0; i < kN; ++i) {
      const auto n = static_cast<std::uint64_t>(i);
      const double u = along_offsets ? uniform_from(7, n) : uniform_from(n, 3);
      ASSERT_GE(u, 0.0);
      ASSERT_LT(u, 1.0);
      seen.insert(u);
      sum += u;
      sum_sq += u * u;
      ++bins[static_cast<int>(u * kBins)];
    }
    EXPECT_EQ(seen.size(), static_cast<std::size_t>(kN));
    const double mean = sum / kN;
    const double var = sum_sq / kN - mean * mean;
    EXPECT_NEAR(mean, 0.5, 5 * 0.2887 / 316.2);      // sd of U(0,1) is 1/sqrt(12); sqrt(kN)
    EXPECT_NEAR(var, 1.0 / 12, 5 * 0.0745 / 316.2);  // sd of (u - 1/2)^2 is ~0.0745
    double chi2 = 0.0;
    const double expected = static_cast<double>(kN) / kBins;
    for (int b : bins) chi2 += (b - expected) * (b - expected) / expected;
    // 15 degrees of freedom: P(chi2 > 44) is about 1e-4.
    EXPECT_LT(chi2, 44.0);
  }
}

}  // namespace
}  // namespace waypoint::kernels
