#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/cuda/kv_cache_write.hpp"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/row_copy.cuh"

namespace waypoint::kernels::cuda {
namespace {

constexpr int kMaxBlock = 256;

// One block per token: K and V rows go to the same slot, so one slot read serves both
// copies. Strides and row lengths are in Words.
template <class Word>
__global__ void write_kv_cache_kernel(Word* __restrict__ key_cache, Word* __restrict__ value_cache,
                                      const Word* __restrict__ k, const Word* __restrict__ v,
                                      std::size_t k_stride, std::size_t v_stride,
                                      const std::int64_t* __restrict__ slots, int row_words) {
  const std::size_t token = blockIdx.x;
  const std::int64_t slot = slots[token];
  if (slot < 0) return;  // a padding token
  const std::size_t dst = static_cast<std::size_t>(slot) * row_words;
  detail::copy_row(key_cache + dst, k + token * k_stride, row_words);
  detail::copy_row(value_cache + dst, v + token * v_stride, row_words);
}

template <class Word>
void launch(bf16* key_cache, bf16* value_cache, const bf16* k, const bf16* v, std::size_t k_stride,
            std::size_t v_stride, const std::int64_t* slots, int grid, int row_words,
            Stream stream) {
  const int block = std::min(row_words, kMaxBlock);
  write_kv_cache_kernel<Word><<<grid, block, 0, stream>>>(
      reinterpret_cast<Word*>(key_cache), reinterpret_cast<Word*>(value_cache),
      reinterpret_cast<const Word*>(k), reinterpret_cast<const Word*>(v), k_stride, v_stride, slots,
      row_words);
}

}  // namespace

void write_kv_cache(bf16* key_cache, bf16* value_cache, const bf16* k, const bf16* v,
                    std::size_t k_stride, std::size_t v_stride, const std::int64_t* slots,
                    std::size_t num_tokens, std::size_t num_kv_heads, std::size_t head_dim,
                    Stream stream) {
  constexpr const char* kName = "write_kv_cache";
  const int grid = detail::checked_int(num_tokens, kName, "num_tokens");
  const int heads = detail::checked_int(num_kv_heads, kName, "num_kv_heads");
  const int dim = detail::checked_int(head_dim, kName, "head_dim");
  const std::size_t width = static_cast<std::size_t>(heads) * static_cast<std::size_t>(dim);
  const int row = detail::checked_int(width, kName, "num_kv_heads * head_dim");
  if (grid == 0 || row == 0) return;
  if (k_stride < width || v_stride < width) {
    throw std::invalid_argument(
        std::string(kName) + ": k_stride " + std::to_string(k_stride) + " and v_stride " +
        std::to_string(v_stride) +
        " must be at least num_kv_heads * head_dim = " + std::to_string(width));
  }
  constexpr std::size_t kWide = detail::kWideElems;
  // 16-byte words only if every row of all four tensors starts 16-byte aligned.
  if (width % kWide == 0 && k_stride % kWide == 0 && v_stride % kWide == 0 &&
      detail::aligned_wide(key_cache) && detail::aligned_wide(value_cache) &&
      detail::aligned_wide(k) && detail::aligned_wide(v)) {
    launch<detail::Wide>(key_cache, value_cache, k, v, k_stride / kWide, v_stride / kWide, slots,
                         grid, row / static_cast<int>(kWide), stream);
  } else {
    launch<detail::Narrow>(key_cache, value_cache, k, v, k_stride, v_stride, slots, grid, row,
                           stream);
  }
  detail::check_launch(kName);
}

}  // namespace waypoint::kernels::cuda
