#pragma once
// SwiGLU on the device for bf16 tensors, with f32 math; the semantics of
// kernels/cpu/silu_and_mul.hpp: input [num_tokens, 2*d] as [gate | up], out
// [num_tokens, d]. Device pointers; asynchronous on `stream`; throws
// std::runtime_error if the launch fails.
#include <cstddef>

#include "kernels/bf16.hpp"
#include "kernels/cuda/stream.hpp"

namespace waypoint::kernels::cuda {

void silu_and_mul(bf16* out, const bf16* input, std::size_t num_tokens, std::size_t d,
                  Stream stream);

}  // namespace waypoint::kernels::cuda
