#pragma once
// Sum of one float per thread across a thread block, returned to every thread.
#include <cuda_runtime.h>

namespace waypoint::kernels::cuda::detail {

inline constexpr int kWarpSize = 32;

__device__ inline float warp_sum(float v) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    v += __shfl_xor_sync(0xffffffffu, v, offset);
  }
  return v;
}

// Every thread of the block must call it, and blockDim.x must be kBlock: the warp
// shuffles assume full warps.
template <int kBlock>
__device__ float block_sum(float v) {
  static_assert(kBlock % kWarpSize == 0 && kBlock <= 1024);
  constexpr int kWarps = kBlock / kWarpSize;
  __shared__ float warp_sums[kWarps];
  __shared__ float total;
  const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
  const int warp = static_cast<int>(threadIdx.x) / kWarpSize;
  v = warp_sum(v);
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = warp_sum(lane < kWarps ? warp_sums[lane] : 0.0f);
    if (lane == 0) total = v;
  }
  __syncthreads();
  return total;
}

}  // namespace waypoint::kernels::cuda::detail
