#include "kernels/cpu/silu_and_mul.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <utility>
#include <vector>

#include "tests/kernels/test_support.hpp"

namespace waypoint::kernels::cpu {
namespace {

using testing::all_close;
using testing::random_floats;

std::vector<double> reference_silu_and_mul(const std::vector<float>& input, std::size_t d) {
  const std::size_t num_tokens = input.size() / (2 * d);
  std::vector<double> out(num_tokens * d);
  for (std::size_t t = 0; t < num_tokens; ++t) {
    for (std::size_t i = 0; i < d; ++i) {
      const double g = input[t * 2 * d + i];
      const double u = input[t * 2 * d + d + i];
      out[t * d + i] = g / (1.0 + std::exp(-g)) * u;
    }
  }
  return out;
}

TEST(KernelsSiluAndMul, MatchesDoubleReference) {
  using Shape = std::pair<std::size_t, std::size_t>;
  for (const auto& [num_tokens, d] : {Shape{1, 1}, Shape{3, 17}, Shape{64, 2048}, Shape{2, 8192}}) {
    const auto input = random_floats(num_tokens * 2 * d, 11, -8.0f, 8.0f);
    std::vector<float> out(num_tokens * d);
    silu_and_mul(out, input, num_tokens, d);
    EXPECT_TRUE(all_close(out, reference_silu_and_mul(input, d), 1e-5))
        << num_tokens << " tokens, d " << d;
  }
}

TEST(KernelsSiluAndMul, GateAndUpHalvesAreNotSwapped) {
  // silu(2) * 3 and silu(3) * 2 differ, so this catches an [up | gate] reading.
  const std::vector<float> input = {2.0f, 3.0f};
  std::vector<float> out(1);
  silu_and_mul(out, input, 1, 1);
  EXPECT_NEAR(out[0], 2.0 / (1.0 + std::exp(-2.0)) * 3.0, 1e-6);
}

TEST(KernelsSiluAndMul, ExtremeGates) {
  const std::vector<float> input = {-100.0f, 0.0f, 100.0f, 1.0f, 1.0f, 1.0f};
  std::vector<float> out(3);
  silu_and_mul(out, input, 1, 3);
  // silu(-100) is about -4e-42, a float denormal; flushing it toward 0 is fine.
  EXPECT_TRUE(all_close(out, reference_silu_and_mul(input, 3), 1e-5, 1e-38));
  for (float v : out) EXPECT_TRUE(std::isfinite(v));
}

TEST(KernelsSiluAndMul, RejectsMismatchedSizes) {
  std::vector<float> input(8), out(3);
  EXPECT_THROW(silu_and_mul(out, input, 2, 2), std::invalid_argument);
  out.resize(4);
  EXPECT_NO_THROW(silu_and_mul(out, input, 2, 2));
}

}  // namespace
}  // namespace waypoint::kernels::cpu
