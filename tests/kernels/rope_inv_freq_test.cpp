#include "kernels/cpu/rope_inv_freq.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <stdexcept>
#include <vector>

namespace waypoint::kernels::cpu {
namespace {

TEST(KernelsRopeInvFreq, IsThetaToTheMinusTwoIOverDim) {
  std::vector<float> inv_freq(64);
  rope_inv_freq(inv_freq, 128, 500000.0);
  for (std::size_t i = 0; i < inv_freq.size(); ++i) {
    const double expected = std::pow(500000.0, -2.0 * static_cast<double>(i) / 128.0);
    EXPECT_NEAR(inv_freq[i], expected, 1e-7 * expected) << "i = " << i;
  }
  EXPECT_EQ(inv_freq[0], 1.0f);
}

TEST(KernelsRopeInvFreq, Llama3HandComputedSmallCase) {
  // rotary_dim 8 and theta 1e4 give base frequencies 1, 0.1, 0.01, 0.001, with
  // wavelengths 2*pi / f = 6.28, 62.8, 628.3, 6283.2. original_max 1024 with low/high
  // freq factors 1 and 4 puts the band edges at wavelengths 1024 and 256, so:
  //   i = 0, 1: wavelength < 256, high frequency, unchanged;
  //   i = 2: in the band, smooth = (1024 / 628.3185 - 1) / (4 - 1) = 0.2099155,
  //          (1 - smooth) * 0.01 / 8 + smooth * 0.01 = 0.0030867610;
  //   i = 3: wavelength > 1024, low frequency, 0.001 / 8 = 0.000125.
  const Llama3RopeScaling scaling{.factor = 8.0,
                                  .low_freq_factor = 1.0,
                                  .high_freq_factor = 4.0,
                                  .original_max_position_embeddings = 1024.0};
  std::vector<float> inv_freq(4);
  llama3_rope_inv_freq(inv_freq, 8, 10000.0, scaling);
  const double expected[] = {1.0, 0.1, 0.0030867610, 0.000125};
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_NEAR(inv_freq[i], expected[i], 1e-6 * expected[i]) << "i = " << i;
  }
}

TEST(KernelsRopeInvFreq, Llama3OnLlama31Config) {
  // Llama 3.1 8B: head_dim 128, rope_theta 500000, factor 8, low 1, high 4, 8192.
  const Llama3RopeScaling scaling{};
  std::vector<float> base(64), scaled(64);
  rope_inv_freq(base, 128, 500000.0);
  llama3_rope_inv_freq(scaled, 128, 500000.0, scaling);
  int high = 0, low = 0, band = 0;
  for (std::size_t i = 0; i < 64; ++i) {
    const double wavelen = 2.0 * std::numbers::pi / base[i];
    if (wavelen < 8192.0 / 4.0) {
      EXPECT_EQ(scaled[i], base[i]) << "high-frequency i = " << i;
      ++high;
    } else if (wavelen > 8192.0 / 1.0) {
      EXPECT_NEAR(scaled[i], base[i] / 8.0, 1e-6 * base[i] / 8.0) << "low-frequency i = " << i;
      ++low;
    } else {
      EXPECT_LT(scaled[i], base[i]) << "band i = " << i;
      EXPECT_GT(scaled[i], base[i] / 8.0) << "band i = " << i;
      ++band;
    }
    if (i > 0) {
      EXPECT_LT(scaled[i], scaled[i - 1]) << "monotone at i = " << i;
    }
  }
  // All three regimes occur for this config, so each branch above was exercised.
  EXPECT_GT(high, 0);
  EXPECT_GT(low, 0);
  EXPECT_GT(band, 0);
}

TEST(KernelsRopeInvFreq, RejectsBadArguments) {
  std::vector<float> inv_freq(4);
  EXPECT_THROW(rope_inv_freq(inv_freq, 7, 10000.0), std::invalid_argument);
  EXPECT_THROW(rope_inv_freq(inv_freq, 10, 10000.0), std::invalid_argument);
  EXPECT_THROW(rope_inv_freq(inv_freq, 8, 0.0), std::invalid_argument);
  Llama3RopeScaling equal_factors{};
  equal_factors.low_freq_factor = equal_factors.high_freq_factor;
  EXPECT_THROW(llama3_rope_inv_freq(inv_freq, 8, 10000.0, equal_factors), std::invalid_argument);
}

}  // namespace
}  // namespace waypoint::kernels::cpu
