#pragma once
// Token embedding lookup on the device: out[t] = table[token_ids[t]] for bf16 rows of
// `hidden` elements. All pointers are device pointers. The launch is asynchronous on
// `stream`; a launch that fails throws std::runtime_error, and sizes that do not fit
// the launch throw std::invalid_argument.
#include <cstddef>
#include <cstdint>

#include "kernels/bf16.hpp"
#include "kernels/cuda/stream.hpp"

namespace waypoint::kernels::cuda {

// out [num_tokens, hidden], table [vocab_size, hidden]. The host validates ids
// before the call; an id outside [0, vocab_size) still never reads outside the
// table: its row of out is written as zeros.
void embedding(bf16* out, const std::int32_t* token_ids, std::size_t num_tokens, const bf16* table,
               std::size_t vocab_size, std::size_t hidden, Stream stream);

}  // namespace waypoint::kernels::cuda
