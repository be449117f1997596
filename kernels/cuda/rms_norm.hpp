#pragma once
// RMSNorm on the device for bf16 tensors, with f32 math; the semantics of
// kernels/cpu/rms_norm.hpp. All pointers are device pointers. Launches are
// asynchronous on `stream`; a launch that fails throws std::runtime_error.
#include <cstddef>

#include "kernels/bf16.hpp"
#include "kernels/cuda/stream.hpp"

namespace waypoint::kernels::cuda {

// out may be the same buffer as x.
void rms_norm(bf16* out, const bf16* x, const bf16* weight, std::size_t num_tokens,
              std::size_t hidden, float eps, Stream stream);

// residual += x (stored as bf16), then out = rms_norm(residual). The norm is taken of
// the bf16-rounded residual, which is what the next layer will read back, as in
// Hugging Face. out may be the same buffer as x.
void fused_add_rms_norm(bf16* out, const bf16* x, bf16* residual, const bf16* weight,
                        std::size_t num_tokens, std::size_t hidden, float eps, Stream stream);

}  // namespace waypoint::kernels::cuda
