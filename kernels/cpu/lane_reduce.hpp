#pragma once
// Reductions over float rows that the compiler can vectorize without -ffast-math.
// Strict IEEE order forbids reassociating a single accumulator, so each reduction
// keeps kLanes independent partial results (a few vector registers' worth) and
// combines them at the end.
//
// Sums accumulate in double: a float accumulator over a 128k-entry vocabulary row
// drifts by ~1e-5 relative, while a product of two floats is exact in double, so
// sum_of_squares loses nothing before the final rounding.
#include <array>
#include <cstddef>
#include <limits>

namespace waypoint::kernels::cpu::detail {

inline constexpr std::size_t kLanes = 16;

inline double sum(const float* x, std::size_t n) {
  std::array<double, kLanes> acc{};
  const std::size_t body = n - n % kLanes;
  for (std::size_t i = 0; i < body; i += kLanes) {
    for (std::size_t l = 0; l < kLanes; ++l) acc[l] += static_cast<double>(x[i + l]);
  }
  for (std::size_t i = body; i < n; ++i) acc[i - body] += static_cast<double>(x[i]);
  double total = 0.0;
  for (double a : acc) total += a;
  return total;
}

inline double sum_of_squares(const float* x, std::size_t n) {
  std::array<double, kLanes> acc{};
  const std::size_t body = n - n % kLanes;
  for (std::size_t i = 0; i < body; i += kLanes) {
    for (std::size_t l = 0; l < kLanes; ++l) {
      const auto v = static_cast<double>(x[i + l]);
      acc[l] += v * v;
    }
  }
  for (std::size_t i = body; i < n; ++i) {
    const auto v = static_cast<double>(x[i]);
    acc[i - body] += v * v;
  }
  double total = 0.0;
  for (double a : acc) total += a;
  return total;
}

// -infinity for an empty range, the identity of max.
inline float max(const float* x, std::size_t n) {
  std::array<float, kLanes> acc;
  acc.fill(-std::numeric_limits<float>::infinity());
  const std::size_t body = n - n % kLanes;
  for (std::size_t i = 0; i < body; i += kLanes) {
    for (std::size_t l = 0; l < kLanes; ++l) acc[l] = x[i + l] > acc[l] ? x[i + l] : acc[l];
  }
  for (std::size_t i = body; i < n; ++i)
    acc[i - body] = x[i] > acc[i - body] ? x[i] : acc[i - body];
  float best = acc[0];
  for (float a : acc) best = a > best ? a : best;
  return best;
}

}  // namespace waypoint::kernels::cpu::detail
