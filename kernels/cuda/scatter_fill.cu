#include <cuda_runtime.h>

#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/scatter_fill.hpp"

namespace waypoint::kernels::cuda {
namespace {

constexpr int kBlock = 128;

__global__ void scatter_fill_kernel(float* data, const std::int64_t* __restrict__ indices,
                                    int count, float value) {
  const int i = static_cast<int>(blockIdx.x) * kBlock + static_cast<int>(threadIdx.x);
  if (i < count) data[indices[i]] = value;
}

}  // namespace

void scatter_fill(float* data, const std::int64_t* indices, std::size_t count, float value,
                  Stream stream) {
  constexpr const char* kName = "scatter_fill";
  const int n = detail::checked_int(count, kName, "count");
  if (n == 0) return;
  scatter_fill_kernel<<<(n + kBlock - 1) / kBlock, kBlock, 0, stream>>>(data, indices, n, value);
  detail::check_launch(kName);
}

}  // namespace waypoint::kernels::cuda
