#pragma once
// The SwiGLU activation of a Llama MLP: the gate and up projections come out of one
// fused matmul as a [num_tokens, 2*d] matrix laid out [gate | up] per row, and
//   out[t, i] = silu(gate[t, i]) * up[t, i],  silu(g) = g / (1 + exp(-g)).
#include <cstddef>
#include <span>

namespace waypoint::kernels::cpu {

// out is [num_tokens, d] and must not overlap input.
void silu_and_mul(std::span<float> out, std::span<const float> input, std::size_t num_tokens,
                  std::size_t d);

}  // namespace waypoint::kernels::cpu
