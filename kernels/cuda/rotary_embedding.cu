#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/cuda/device_bf16.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/rotary_embedding.hpp"

namespace waypoint::kernels::cuda {
namespace {

constexpr int kMaxBlock = 256;

// One block per token; each thread rotates one (i, i + half) pair of one head, the q
// heads first, then the k heads, so consecutive threads touch consecutive dims. The
// cos/sin row is read by every head of the token and stays in L1.
//
// The products and sums are the *_rn intrinsics so that nvcc cannot contract them
// into FMAs: the CPU kernel rounds each product on its own (an x86-64 build has no
// FMA to contract into), and with the same roundings the two backends agree bit for
// bit once the result is stored as bf16.
__global__ void rotary_embedding_kernel(const std::int64_t* __restrict__ positions,
                                        __nv_bfloat16* q, __nv_bfloat16* k, std::size_t q_stride,
                                        std::size_t k_stride, int num_q_heads, int num_pairs,
                                        int head_dim, int half,
                                        const float* __restrict__ cos_sin_cache) {
  const std::size_t token = blockIdx.x;
  const std::int64_t pos = positions[token];
  if (pos < 0) return;
  const float* cos = cos_sin_cache + static_cast<std::size_t>(pos) * (2 * half);
  const float* sin = cos + half;
  for (int p = static_cast<int>(threadIdx.x); p < num_pairs; p += static_cast<int>(blockDim.x)) {
    const int head = p / half;
    const int i = p - head * half;
    __nv_bfloat16* x =
        head < num_q_heads
            ? q + token * q_stride + static_cast<std::size_t>(head) * head_dim
            : k + token * k_stride + static_cast<std::size_t>(head - num_q_heads) * head_dim;
    const float x1 = __bfloat162float(x[i]);
    const float x2 = __bfloat162float(x[i + half]);
    const float c = cos[i];
    const float s = sin[i];
    x[i] = __float2bfloat16(__fsub_rn(__fmul_rn(x1, c), __fmul_rn(x2, s)));
    x[i + half] = __float2bfloat16(__fadd_rn(__fmul_rn(x2, c), __fmul_rn(x1, s)));
  }
}

void require(bool ok, const std::string& message) {
  if (!ok) throw std::invalid_argument("rotary_embedding: " + message);
}

}  // namespace

void rotary_embedding(const std::int64_t* positions, bf16* q, bf16* k, std::size_t num_tokens,
                      std::size_t q_stride, std::size_t k_stride, const RotaryShape& shape,
                      const float* cos_sin_cache, Stream stream) {
  constexpr const char* kName = "rotary_embedding";
  require(shape.rotary_dim > 0 && shape.rotary_dim % 2 == 0 && shape.rotary_dim <= shape.head_dim,
          "rotary_dim must be even, positive and <= head_dim");
  const int grid = detail::checked_int(num_tokens, kName, "num_tokens");
  if (grid == 0) return;
  // Every thread index below is an int: heads * head_dim bounds them all.
  const std::size_t heads = shape.num_q_heads + shape.num_kv_heads;
  detail::checked_int(heads * shape.head_dim, kName, "(num_q_heads + num_kv_heads) * head_dim");
  require(q_stride >= shape.num_q_heads * shape.head_dim,
          "q_stride " + std::to_string(q_stride) + " is shorter than a row of q heads");
  require(k_stride >= shape.num_kv_heads * shape.head_dim,
          "k_stride " + std::to_string(k_stride) + " is shorter than a row of k heads");
  const int half = static_cast<int>(shape.rotary_dim / 2);
  const int num_pairs = static_cast<int>(heads) * half;
  if (num_pairs == 0) return;
  const int block = std::min(num_pairs, kMaxBlock);
  rotary_embedding_kernel<<<grid, block, 0, stream>>>(
      positions, detail::device_view(q), detail::device_view(k), q_stride, k_stride,
      static_cast<int>(shape.num_q_heads), num_pairs, static_cast<int>(shape.head_dim), half,
      cos_sin_cache);
  detail::check_launch(kName);
}

}  // namespace waypoint::kernels::cuda
