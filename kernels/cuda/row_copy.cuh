#pragma once
// Row copies for the kernels that only move bf16 rows (embedding lookup, KV cache
// write). They are bound by memory, so each thread moves 16 bytes per access when
// every row allows it, and one bf16 at a time otherwise.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace waypoint::kernels::cuda::detail {

// The unit a thread moves: 8 bf16 at a time, or 1.
using Wide = uint4;
using Narrow = std::uint16_t;
inline constexpr std::size_t kWideElems = sizeof(Wide) / sizeof(std::uint16_t);

inline bool aligned_wide(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p) % alignof(Wide) == 0;
}

// The threads of a block copy (or zero) words [0, n) of a row, striding by the block
// size, so consecutive threads touch consecutive words.
template <class Word>
__device__ void copy_row(Word* __restrict__ dst, const Word* __restrict__ src, int n) {
  for (int j = static_cast<int>(threadIdx.x); j < n; j += static_cast<int>(blockDim.x)) {
    dst[j] = src[j];
  }
}

template <class Word>
__device__ void zero_row(Word* __restrict__ dst, int n) {
  for (int j = static_cast<int>(threadIdx.x); j < n; j += static_cast<int>(blockDim.x)) {
    dst[j] = Word{};
  }
}

}  // namespace waypoint::kernels::cuda::detail
