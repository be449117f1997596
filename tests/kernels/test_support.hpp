#pragma once
// Helpers shared by the kernel tests: seeded random inputs, so every run sees the
// same numbers, and an element-wise closeness check that names the first mismatch.
#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace waypoint::kernels::testing {

inline std::vector<float> random_floats(std::size_t n, std::uint32_t seed, float lo = -2.0f,
                                        float hi = 2.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// |actual - expected| <= rel * |expected| + abs for every element.
inline ::testing::AssertionResult all_close(std::span<const float> actual,
                                            std::span<const double> expected, double rel,
                                            double abs = 1e-30) {
  if (actual.size() != expected.size()) {
    return ::testing::AssertionFailure()
           << "size " << actual.size() << " vs expected " << expected.size();
  }
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double err = std::abs(static_cast<double>(actual[i]) - expected[i]);
    if (!(err <= rel * std::abs(expected[i]) + abs)) {
      return ::testing::AssertionFailure()
             << "element " << i << ": " << actual[i] << " vs expected " << expected[i] << " (error "
             << err << ", allowed " << rel * std::abs(expected[i]) + abs << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace waypoint::kernels::testing
