#include "kernels/bf16.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>

namespace waypoint::kernels {
namespace {

TEST(KernelsBf16, ExactValuesRoundTrip) {
  for (float v : {0.0f, -0.0f, 1.0f, -2.5f, 0.15625f, 65536.0f}) {
    EXPECT_EQ(bf16_to_float(float_to_bf16(v)), v);
  }
  EXPECT_TRUE(std::signbit(round_to_bf16(-0.0f)));
}

TEST(KernelsBf16, RoundsToNearestTiesToEven) {
  // bf16 keeps 7 fraction bits, so near 1 its spacing is 2^-7.
  const float ulp = std::ldexp(1.0f, -7);
  EXPECT_EQ(round_to_bf16(1.0f + ulp / 2), 1.0f);                // tie, 1.0 is even
  EXPECT_EQ(round_to_bf16(1.0f + 3 * ulp / 2), 1.0f + 2 * ulp);  // tie, odd -> up
  EXPECT_EQ(round_to_bf16(1.0f + ulp * 0.51f), 1.0f + ulp);      // above half
  EXPECT_EQ(round_to_bf16(1.0f + ulp * 0.49f), 1.0f);            // below half
  EXPECT_EQ(round_to_bf16(-(1.0f + ulp * 0.51f)), -(1.0f + ulp));
}

TEST(KernelsBf16, SpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(round_to_bf16(inf), inf);
  EXPECT_EQ(round_to_bf16(-inf), -inf);
  // The largest float lies above bf16's largest finite value's rounding midpoint.
  EXPECT_EQ(round_to_bf16(std::numeric_limits<float>::max()), inf);
  EXPECT_TRUE(std::isnan(round_to_bf16(std::numeric_limits<float>::quiet_NaN())));
  // A NaN whose payload sits only in the low bits must not turn into infinity.
  EXPECT_TRUE(std::isnan(round_to_bf16(std::bit_cast<float>(0x7f800001u))));
}

}  // namespace
}  // namespace waypoint::kernels
