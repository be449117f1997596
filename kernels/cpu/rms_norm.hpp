#pragma once
// RMSNorm over the rows of a [num_tokens, hidden] matrix, as Llama uses it:
//   out = x / sqrt(mean(x^2) + eps) * weight
#include <cstddef>
#include <span>

namespace waypoint::kernels::cpu {

// out may be the same buffer as x (in-place); any other overlap is not allowed.
void rms_norm(std::span<float> out, std::span<const float> x, std::span<const float> weight,
              std::size_t num_tokens, std::size_t hidden, float eps);

// vLLM's fused_add_rms_norm: residual += x, then out = rms_norm(residual). The
// updated residual is what the next layer adds to, so it is written back in place.
// out may be the same buffer as x; residual must not overlap either.
void fused_add_rms_norm(std::span<float> out, std::span<const float> x, std::span<float> residual,
                        std::span<const float> weight, std::size_t num_tokens, std::size_t hidden,
                        float eps);

}  // namespace waypoint::kernels::cpu
