#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>

#include "kernels/cuda/bias_add.hpp"
#include "kernels/cuda/device_bf16.cuh"
#include "kernels/cuda/launch.cuh"

namespace waypoint::kernels::cuda {
namespace {

constexpr int kMaxBlock = 256;

// One block per row; threads stride across it, so reads and writes are coalesced.
__global__ void bias_add_kernel(__nv_bfloat16* __restrict__ x,
                                const __nv_bfloat16* __restrict__ bias, int width) {
  __nv_bfloat16* row = x + static_cast<std::size_t>(blockIdx.x) * width;
  for (int i = static_cast<int>(threadIdx.x); i < width; i += static_cast<int>(blockDim.x)) {
    row[i] = __float2bfloat16(__bfloat162float(row[i]) + __bfloat162float(bias[i]));
  }
}

}  // namespace

void bias_add(bf16* x, const bf16* bias, std::size_t rows, std::size_t width, Stream stream) {
  constexpr const char* kName = "bias_add";
  const int grid = detail::checked_int(rows, kName, "rows");
  const int w = detail::checked_int(width, kName, "width");
  if (grid == 0 || w == 0) return;
  bias_add_kernel<<<grid, std::min(w, kMaxBlock), 0, stream>>>(detail::device_view(x),
                                                               detail::device_view(bias), w);
  detail::check_launch(kName);
}

}  // namespace waypoint::kernels::cuda
