// The CUDA kernels against the CPU kernels, on bf16-rounded random inputs. Built
// wherever nvcc is; on a machine without a GPU every test skips rather than fails.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "kernels/bf16.hpp"
#include "kernels/cpu/rms_norm.hpp"
#include "kernels/cpu/silu_and_mul.hpp"
#include "kernels/cuda/rms_norm.hpp"
#include "kernels/cuda/silu_and_mul.hpp"
#include "tests/kernels/cuda_test_support.hpp"
#include "tests/kernels/device_buffer.hpp"

namespace waypoint::kernels {
namespace {

using testing::DeviceBuffer;
using testing::random_bf16;

// The device rounds each output to bf16 once (half an ulp, 2^-9 relative), and the
// fused kernel also rounds the residual before normalizing it; two bf16 ulps covers
// both. The absolute term is for outputs that round to zero.
constexpr double kBf16Rel = 1.0 / 128;
constexpr double kBf16Abs = 1e-6;
constexpr float kEps = 1e-5f;

// The skip-without-device fixture, under this file's test-suite name.
using KernelsCuda = testing::CudaTest;

::testing::AssertionResult bf16_close(const std::vector<bf16>& actual,
                                      const std::vector<float>& expected) {
  if (actual.size() != expected.size()) return ::testing::AssertionFailure() << "size mismatch";
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double a = bf16_to_float(actual[i]);
    const double e = expected[i];
    if (!(std::abs(a - e) <= kBf16Rel * std::abs(e) + kBf16Abs)) {
      return ::testing::AssertionFailure() << "element " << i << ": " << a << " vs " << e;
    }
  }
  return ::testing::AssertionSuccess();
}

struct Shape {
  std::size_t num_tokens;
  std::size_t hidden;
};

// 300 tokens takes the large-batch block size; odd hiddens leave threads idle.
constexpr Shape kShapes[] = {{1, 2048}, {7, 1000}, {300, 4096}, {2, 33}};

TEST_F(KernelsCuda, RmsNormMatchesCpu) {
  for (const auto& [num_tokens, hidden] : kShapes) {
    SCOPED_TRACE(std::to_string(num_tokens) + "x" + std::to_string(hidden));
    const auto x = random_bf16(num_tokens * hidden, 41);
    const auto weight = random_bf16(hidden, 42, 0.5f, 1.5f);
    std::vector<float> expected(x.values.size());
    cpu::rms_norm(expected, x.values, weight.values, num_tokens, hidden, kEps);

    DeviceBuffer<bf16> d_x{std::span<const bf16>(x.bits)};
    DeviceBuffer<bf16> d_weight{std::span<const bf16>(weight.bits)};
    DeviceBuffer<bf16> d_out(x.bits.size());
    cuda::rms_norm(d_out.get(), d_x.get(), d_weight.get(), num_tokens, hidden, kEps, nullptr);
    EXPECT_TRUE(bf16_close(d_out.to_host(), expected));
  }
}

TEST_F(KernelsCuda, FusedAddRmsNormMatchesCpu) {
  for (const auto& [num_tokens, hidden] : kShapes) {
    SCOPED_TRACE(std::to_string(num_tokens) + "x" + std::to_string(hidden));
    const auto x = random_bf16(num_tokens * hidden, 43);
    const auto residual = random_bf16(num_tokens * hidden, 44);
    const auto weight = random_bf16(hidden, 45, 0.5f, 1.5f);
    std::vector<float> expected_residual = residual.values;
    std::vector<float> expected(x.values.size());
    cpu::fused_add_rms_norm(expected, x.values, expected_residual, weight.values, num_tokens,
                            hidden, kEps);

    DeviceBuffer<bf16> d_x{std::span<const bf16>(x.bits)};
    DeviceBuffer<bf16> d_residual{std::span<const bf16>(residual.bits)};
    DeviceBuffer<bf16> d_weight{std::span<const bf16>(weight.bits)};
    // In place, as the model runner will call it: out is x.
    cuda::fused_add_rms_norm(d_x.get(), d_x.get(), d_residual.get(), d_weight.get(), num_tokens,
                             hidden, kEps, nullptr);
    EXPECT_TRUE(bf16_close(d_x.to_host(), expected));
    // Both sides add the same two values in f32, so the device residual must be the
    // CPU one rounded once to bf16, bit for bit.
    const auto device_residual = d_residual.to_host();
    for (std::size_t i = 0; i < device_residual.size(); ++i) {
      ASSERT_EQ(device_residual[i].bits, float_to_bf16(expected_residual[i]).bits)
          << "residual element " << i;
    }
  }
}

TEST_F(KernelsCuda, SiluAndMulMatchesCpu) {
  for (const auto& [num_tokens, d] :
       {Shape{1, 8192}, Shape{64, 2048}, Shape{5, 1500}, Shape{3, 7}}) {
    SCOPED_TRACE(std::to_string(num_tokens) + "x" + std::to_string(d));
    const auto input = random_bf16(num_tokens * 2 * d, 46, -8.0f, 8.0f);
    std::vector<float> expected(num_tokens * d);
    cpu::silu_and_mul(expected, input.values, num_tokens, d);

    DeviceBuffer<bf16> d_input{std::span<const bf16>(input.bits)};
    DeviceBuffer<bf16> d_out(num_tokens * d);
    cuda::silu_and_mul(d_out.get(), d_input.get(), num_tokens, d, nullptr);
    EXPECT_TRUE(bf16_close(d_out.to_host(), expected));
  }
}

TEST_F(KernelsCuda, ZeroTokensLaunchNothing) {
  EXPECT_NO_THROW(cuda::rms_norm(nullptr, nullptr, nullptr, 0, 2048, kEps, nullptr));
  EXPECT_NO_THROW(cuda::silu_and_mul(nullptr, nullptr, 0, 2048, nullptr));
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

}  // namespace
}  // namespace waypoint::kernels
