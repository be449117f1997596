// cuBLAS's bf16 GEMM against an f64 CPU reference, on bf16-rounded inputs that the
// reference sees exactly as the device does. Skips without a GPU.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "kernels/bf16.hpp"
#include "kernels/cuda/gemm.hpp"
#include "tests/kernels/cuda_test_support.hpp"
#include "tests/kernels/device_buffer.hpp"

namespace waypoint::kernels {
namespace {

using testing::check_cuda;
using testing::DeviceBuffer;
using testing::random_bf16;
using KernelsCudaGemm = testing::CudaTest;

// Tolerances, per output element, in terms of S = sum over k of |a * w|.
//
// The product of two bf16 numbers is exact in f32, so all the error is in the f32
// accumulation. Rounding to nearest, each addition errs by at most 2^-24 of the
// running sum (itself at most S): k * 2^-24 * S at worst, ~sqrt(k) * 2^-24 * S
// typically. Tensor cores may truncate instead of round, a bias of up to 2^-23 of the
// running sum per addition that does not cancel. With random signed terms of rms s and
// mean magnitude mu (S = k mu), the running sum after i terms is ~sqrt(i) s, so the
// biased errors add up to ~2^-23 (2/3) k^1.5 s = 2^-23 (2/3) sqrt(k) (s/mu) S. Here the
// terms are products of two U(-2, 2) numbers, s/mu = 4/3, so at k = 4096 that is
// ~57 * 2^-23 S = 6.8e-6 S. 2^-14 S (6.1e-5 S) leaves 9x room. A wrong layout (a
// transposed or misaligned operand) errs by about |out| ~ sqrt(k) s, over 100x the
// tolerance at every shape below.
constexpr double kAccumulationRel = 0x1.0p-14;
// A bf16 output then rounds once more: bf16 carries 8 significant bits, so at most
// 2^-8 of the value; 2^-7 covers it with room for the f32 error above moving it.
constexpr double kBf16OutputRel = 0x1.0p-7;

struct Reference {
  std::vector<double> out;      // [m, n]
  std::vector<double> abs_sum;  // [m, n]: sum over k of |a * w|
};

Reference reference_linear(const std::vector<float>& a, const std::vector<float>& w, std::size_t m,
                           std::size_t n, std::size_t k) {
  Reference ref{std::vector<double>(m * n), std::vector<double>(m * n)};
  for (std::size_t i = 0; i < m; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      double sum = 0.0;
      double abs_sum = 0.0;
      for (std::size_t l = 0; l < k; ++l) {
        const double p = static_cast<double>(a[i * k + l]) * w[j * k + l];
        sum += p;
        abs_sum += std::abs(p);
      }
      ref.out[i * n + j] = sum;
      ref.abs_sum[i * n + j] = abs_sum;
    }
  }
  return ref;
}

// |actual - expected| <= rel * |expected| + accumulation * S, elementwise.
template <class T, class ToDouble>
::testing::AssertionResult linear_close(const std::vector<T>& actual, const Reference& ref,
                                        double rel, double accumulation, ToDouble to_double) {
  if (actual.size() != ref.out.size()) return ::testing::AssertionFailure() << "size mismatch";
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double a = to_double(actual[i]);
    const double e = ref.out[i];
    const double allowed = rel * std::abs(e) + accumulation * ref.abs_sum[i] + 1e-30;
    if (!(std::abs(a - e) <= allowed)) {
      return ::testing::AssertionFailure()
             << "element " << i << ": " << a << " vs " << e << " (allowed " << allowed << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

struct GemmShape {
  std::size_t m, n, k;
};

// m = 1 (decode) and 3; n = 257 (odd, not a multiple of any tile); k = 64 and 4096;
// k = 33 makes rows of a and w start off 16-byte boundaries, which rules out the
// vectorized kernels; m = 64 and 200 take multi-tile paths in m.
constexpr GemmShape kShapes[] = {{1, 257, 64},    {3, 257, 4096}, {1, 2048, 4096},
                                 {64, 257, 4096}, {5, 31, 33},    {200, 128, 64}};

std::string name(const GemmShape& s) {
  return "m=" + std::to_string(s.m) + " n=" + std::to_string(s.n) + " k=" + std::to_string(s.k);
}

TEST_F(KernelsCudaGemm, LinearF32MatchesReference) {
  cuda::Gemm gemm(nullptr);
  for (const GemmShape& s : kShapes) {
    SCOPED_TRACE(name(s));
    const auto a = random_bf16(s.m * s.k, 101);
    const auto w = random_bf16(s.n * s.k, 102);
    const Reference ref = reference_linear(a.values, w.values, s.m, s.n, s.k);
    DeviceBuffer<bf16> d_a{std::span<const bf16>(a.bits)};
    DeviceBuffer<bf16> d_w{std::span<const bf16>(w.bits)};
    DeviceBuffer<float> d_out(s.m * s.n);
    gemm.linear_f32(d_out.get(), d_a.get(), d_w.get(), s.m, s.n, s.k);
    EXPECT_TRUE(linear_close(d_out.to_host(), ref, 0.0, kAccumulationRel,
                             [](float v) { return static_cast<double>(v); }));
  }
}

TEST_F(KernelsCudaGemm, LinearBf16MatchesReference) {
  cuda::Gemm gemm(nullptr);
  for (const GemmShape& s : kShapes) {
    SCOPED_TRACE(name(s));
    const auto a = random_bf16(s.m * s.k, 103);
    const auto w = random_bf16(s.n * s.k, 104);
    const Reference ref = reference_linear(a.values, w.values, s.m, s.n, s.k);
    DeviceBuffer<bf16> d_a{std::span<const bf16>(a.bits)};
    DeviceBuffer<bf16> d_w{std::span<const bf16>(w.bits)};
    DeviceBuffer<bf16> d_out(s.m * s.n);
    gemm.linear(d_out.get(), d_a.get(), d_w.get(), s.m, s.n, s.k);
    EXPECT_TRUE(linear_close(d_out.to_host(), ref, kBf16OutputRel, 2 * kAccumulationRel,
                             [](bf16 v) { return static_cast<double>(bf16_to_float(v)); }));
  }
}

// The handle is bound to the stream given at construction; the result is there once
// that stream is synchronized.
TEST_F(KernelsCudaGemm, RunsOnItsStream) {
  cudaStream_t stream = nullptr;
  check_cuda(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
  {
    cuda::Gemm gemm(stream);
    const GemmShape s{4, 96, 128};
    const auto a = random_bf16(s.m * s.k, 105);
    const auto w = random_bf16(s.n * s.k, 106);
    const Reference ref = reference_linear(a.values, w.values, s.m, s.n, s.k);
    DeviceBuffer<bf16> d_a{std::span<const bf16>(a.bits)};
    DeviceBuffer<bf16> d_w{std::span<const bf16>(w.bits)};
    DeviceBuffer<float> d_out(s.m * s.n);
    gemm.linear_f32(d_out.get(), d_a.get(), d_w.get(), s.m, s.n, s.k);
    check_cuda(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    EXPECT_TRUE(linear_close(d_out.to_host(), ref, 0.0, kAccumulationRel,
                             [](float v) { return static_cast<double>(v); }));
  }
  check_cuda(cudaStreamDestroy(stream), "cudaStreamDestroy");
}

TEST_F(KernelsCudaGemm, MovesItsHandle) {
  cuda::Gemm first(nullptr);
  cuda::Gemm second(std::move(first));
  cuda::Gemm third(nullptr);
  third = std::move(second);

  const GemmShape s{2, 16, 32};
  const auto a = random_bf16(s.m * s.k, 107);
  const auto w = random_bf16(s.n * s.k, 108);
  const Reference ref = reference_linear(a.values, w.values, s.m, s.n, s.k);
  DeviceBuffer<bf16> d_a{std::span<const bf16>(a.bits)};
  DeviceBuffer<bf16> d_w{std::span<const bf16>(w.bits)};
  DeviceBuffer<float> d_out(s.m * s.n);
  third.linear_f32(d_out.get(), d_a.get(), d_w.get(), s.m, s.n, s.k);
  EXPECT_TRUE(linear_close(d_out.to_host(), ref, 0.0, kAccumulationRel,
                           [](float v) { return static_cast<double>(v); }));
  EXPECT_THROW(first.linear_f32(d_out.get(), d_a.get(), d_w.get(), s.m, s.n, s.k),
               std::logic_error);
  EXPECT_THROW(second.linear_f32(d_out.get(), d_a.get(), d_w.get(), s.m, s.n, s.k),
               std::logic_error);
}

TEST_F(KernelsCudaGemm, EmptyShapes) {
  cuda::Gemm gemm(nullptr);
  // No rows or no columns: nothing to write, nothing read.
  EXPECT_NO_THROW(gemm.linear(nullptr, nullptr, nullptr, 0, 257, 64));
  EXPECT_NO_THROW(gemm.linear_f32(nullptr, nullptr, nullptr, 3, 0, 64));
  // k = 0: an empty sum, so zeros, over whatever was there.
  DeviceBuffer<float> d_f32(3 * 5);
  DeviceBuffer<bf16> d_bf16(3 * 5);
  check_cuda(cudaMemset(d_f32.get(), 0xff, 3 * 5 * sizeof(float)), "cudaMemset");
  check_cuda(cudaMemset(d_bf16.get(), 0xff, 3 * 5 * sizeof(bf16)), "cudaMemset");
  gemm.linear_f32(d_f32.get(), nullptr, nullptr, 3, 5, 0);
  gemm.linear(d_bf16.get(), nullptr, nullptr, 3, 5, 0);
  for (float v : d_f32.to_host()) EXPECT_EQ(v, 0.0f);
  for (bf16 v : d_bf16.to_host()) EXPECT_EQ(v.bits, 0);
}

}  // namespace
}  // namespace waypoint::kernels
