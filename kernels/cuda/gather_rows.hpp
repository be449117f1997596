#pragma once
// out[i, :] = in[rows[i], :] for bf16 rows of `width` elements: picks the last
// token of each request that samples, so the final norm and the LM head run on
// those rows only. Device pointers (rows: num_rows int32 indices into in);
// asynchronous on `stream`; throws std::runtime_error if the launch fails.
#include <cstddef>
#include <cstdint>

#include "kernels/bf16.hpp"
#include "kernels/cuda/stream.hpp"

namespace waypoint::kernels::cuda {

void gather_rows(bf16* out, const bf16* in, const std::int32_t* rows, std::size_t num_rows,
                 std::size_t width, Stream stream);

}  // namespace waypoint::kernels::cuda
