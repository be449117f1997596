#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>

#include "kernels/cuda/device_bf16.cuh"
#include "kernels/cuda/gather_rows.hpp"
#include "kernels/cuda/launch.cuh"

namespace waypoint::kernels::cuda {
namespace {

constexpr int kMaxBlock = 256;

// One block per output row.
__global__ void gather_rows_kernel(__nv_bfloat16* __restrict__ out,
                                   const __nv_bfloat16* __restrict__ in,
                                   const std::int32_t* __restrict__ rows, int width) {
  const __nv_bfloat16* src = in + static_cast<std::size_t>(rows[blockIdx.x]) * width;
  __nv_bfloat16* dst = out + static_cast<std::size_t>(blockIdx.x) * width;
  for (int i = static_cast<int>(threadIdx.x); i < width; i += static_cast<int>(blockDim.x)) {
    dst[i] = src[i];
  }
}

}  // namespace

void gather_rows(bf16* out, const bf16* in, const std::int32_t* rows, std::size_t num_rows,
                 std::size_t width, Stream stream) {
  constexpr const char* kName = "gather_rows";
  const int grid = detail::checked_int(num_rows, kName, "num_rows");
  const int w = detail::checked_int(width, kName, "width");
  if (grid == 0 || w == 0) return;
  gather_rows_kernel<<<grid, std::min(w, kMaxBlock), 0, stream>>>(detail::device_view(out),
                                                                  detail::device_view(in), rows, w);
  detail::check_launch(kName);
}

}  // namespace waypoint::kernels::cuda
