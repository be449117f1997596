#pragma once
// What the CUDA kernel tests share: a fixture that skips, rather than fails, where
// there is no CUDA device (the tests are built wherever nvcc is), and bf16 inputs
// that the CPU references see exactly as the device does.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/bf16.hpp"
#include "tests/kernels/test_support.hpp"

namespace waypoint::kernels::testing {

class CudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int count = 0;
    const cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
      (void)cudaGetLastError();  // clear it, so it does not leak into a later check
      GTEST_SKIP() << "no CUDA device: " << cudaGetErrorString(err);
    }
    if (count == 0) GTEST_SKIP() << "no CUDA device: cudaGetDeviceCount reported 0";
  }
};

struct Bf16Data {
  std::vector<bf16> bits;
  std::vector<float> values;  // the same numbers, exactly, as f32 for the CPU kernels
};

inline Bf16Data random_bf16(std::size_t n, std::uint32_t seed, float lo = -2.0f, float hi = 2.0f) {
  Bf16Data data;
  for (float v : random_floats(n, seed, lo, hi)) {
    data.bits.push_back(float_to_bf16(v));
    data.values.push_back(bf16_to_float(data.bits.back()));
  }
  return data;
}

}  // namespace waypoint::kernels::testing
