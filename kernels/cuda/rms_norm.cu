#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "kernels/cuda/block_reduce.cuh"
#include "kernels/cuda/device_bf16.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/rms_norm.hpp"

namespace waypoint::kernels::cuda {
namespace {

// One block per token. x and out are not __restrict__: they may be the same buffer,
// and each element is read (pass 1) before its own thread writes it (pass 2).
template <int kBlock>
__global__ void rms_norm_kernel(__nv_bfloat16* out, const __nv_bfloat16* x,
                                const __nv_bfloat16* __restrict__ weight, int hidden, float eps) {
  const std::size_t row = static_cast<std::size_t>(blockIdx.x) * hidden;
  float sum_sq = 0.0f;
  for (int j = static_cast<int>(threadIdx.x); j < hidden; j += kBlock) {
    const float v = __bfloat162float(x[row + j]);
    sum_sq += v * v;
  }
  const float inv_rms = rsqrtf(detail::block_sum<kBlock>(sum_sq) / hidden + eps);
  for (int j = static_cast<int>(threadIdx.x); j < hidden; j += kBlock) {
    const float v = __bfloat162float(x[row + j]);
    out[row + j] = __float2bfloat16(v * inv_rms * __bfloat162float(weight[j]));
  }
}

template <int kBlock>
__global__ void fused_add_rms_norm_kernel(__nv_bfloat16* out, const __nv_bfloat16* x,
                                          __nv_bfloat16* __restrict__ residual,
                                          const __nv_bfloat16* __restrict__ weight, int hidden,
                                          float eps) {
  const std::size_t row = static_cast<std::size_t>(blockIdx.x) * hidden;
  float sum_sq = 0.0f;
  for (int j = static_cast<int>(threadIdx.x); j < hidden; j += kBlock) {
    const float sum = __bfloat162float(x[row + j]) + __bfloat162float(residual[row + j]);
    const __nv_bfloat16 stored = __float2bfloat16(sum);
    residual[row + j] = stored;
    const float v = __bfloat162float(stored);
    sum_sq += v * v;
  }
  const float inv_rms = rsqrtf(detail::block_sum<kBlock>(sum_sq) / hidden + eps);
  // Each thread rereads only the residual elements it wrote itself.
  for (int j = static_cast<int>(threadIdx.x); j < hidden; j += kBlock) {
    const float v = __bfloat162float(residual[row + j]);
    out[row + j] = __float2bfloat16(v * inv_rms * __bfloat162float(weight[j]));
  }
}

// vLLM's choice: with few tokens there are few blocks, so each gets more threads to
// keep the GPU busy; with many tokens, smaller blocks let more rows run at once.
constexpr int kSmallBatchBlock = 1024;
constexpr int kLargeBatchBlock = 256;
constexpr std::size_t kSmallBatchTokens = 256;

}  // namespace

void rms_norm(bf16* out, const bf16* x, const bf16* weight, std::size_t num_tokens,
              std::size_t hidden, float eps, Stream stream) {
  constexpr const char* kName = "rms_norm";
  const int grid = detail::checked_int(num_tokens, kName, "num_tokens");
  const int h = detail::checked_int(hidden, kName, "hidden");
  if (grid == 0 || h == 0) return;
  if (num_tokens < kSmallBatchTokens) {
    rms_norm_kernel<kSmallBatchBlock><<<grid, kSmallBatchBlock, 0, stream>>>(
        detail::device_view(out), detail::device_view(x), detail::device_view(weight), h, eps);
  } else {
    rms_norm_kernel<kLargeBatchBlock><<<grid, kLargeBatchBlock, 0, stream>>>(
        detail::device_view(out), detail::device_view(x), detail::device_view(weight), h, eps);
  }
  detail::check_launch(kName);
}

void fused_add_rms_norm(bf16* out, const bf16* x, bf16* residual, const bf16* weight,
                        std::size_t num_tokens, std::size_t hidden, float eps, Stream stream) {
  constexpr const char* kName = "fused_add_rms_norm";
  const int grid = detail::checked_int(num_tokens, kName, "num_tokens");
  const int h = detail::checked_int(hidden, kName, "hidden");
  if (grid == 0 || h == 0) return;
  if (num_tokens < kSmallBatchTokens) {
    fused_add_rms_norm_kernel<kSmallBatchBlock><<<grid, kSmallBatchBlock, 0, stream>>>(
        detail::device_view(out), detail::device_view(x), detail::device_view(residual),
        detail::device_view(weight), h, eps);
  } else {
    fused_add_rms_norm_kernel<kLargeBatchBlock><<<grid, kLargeBatchBlock, 0, stream>>>(
        detail::device_view(out), detail::device_view(x), detail::device_view(residual),
        detail::device_view(weight), h, eps);
  }
  detail::check_launch(kName);
}

}  // namespace waypoint::kernels::cuda
