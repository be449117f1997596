#pragma once
// x[r, c] += bias[c] for a bf16 matrix, with the sum taken in f32 and rounded once:
// the q/k/v biases of Qwen2-style attention, added after the fused qkv GEMM.
// Device pointers; asynchronous on `stream`; throws std::runtime_error if the
// launch fails.
#include <cstddef>

#include "kernels/bf16.hpp"
#include "kernels/cuda/stream.hpp"

namespace waypoint::kernels::cuda {

void bias_add(bf16* x, const bf16* bias, std::size_t rows, std::size_t width, Stream stream);

}  // namespace waypoint::kernels::cuda
