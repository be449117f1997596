#pragma once
// data[indices[i]] = value for each of `count` indices: bans tokens in rows of
// logits (value -infinity) before sampling, as min_tokens requires of EOS and the
// stop tokens. Device pointers; asynchronous on `stream`; throws
// std::runtime_error if the launch fails.
#include <cstddef>
#include <cstdint>

#include "kernels/cuda/stream.hpp"

namespace waypoint::kernels::cuda {

void scatter_fill(float* data, const std::int64_t* indices, std::size_t count, float value,
                  Stream stream);

}  // namespace waypoint::kernels::cuda
