#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "kernels/cuda/embedding.hpp"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/row_copy.cuh"

namespace waypoint::kernels::cuda {
namespace {

constexpr int kMaxBlock = 256;

// One block per token. The id is checked here as well as on the host, because an
// out-of-range id would otherwise read another allocation's memory silently.
template <class Word>
__global__ void embedding_kernel(Word* __restrict__ out, const std::int32_t* __restrict__ token_ids,
                                 const Word* __restrict__ table, int vocab_size, int row_words) {
  const std::size_t token = blockIdx.x;
  const std::int32_t id = token_ids[token];
  Word* dst = out + token * row_words;
  if (id < 0 || id >= vocab_size) {
    detail::zero_row(dst, row_words);
    return;
  }
  detail::copy_row(dst, table + static_cast<std::size_t>(id) * row_words, row_words);
}

template <class Word>
void launch(bf16* out, const std::int32_t* token_ids, int grid, const bf16* table, int vocab,
            int row_words, Stream stream) {
  const int block = std::min(row_words, kMaxBlock);
  embedding_kernel<Word><<<grid, block, 0, stream>>>(reinterpret_cast<Word*>(out), token_ids,
                                                     reinterpret_cast<const Word*>(table), vocab,
                                                     row_words);
}

}  // namespace

void embedding(bf16* out, const std::int32_t* token_ids, std::size_t num_tokens, const bf16* table,
               std::size_t vocab_size, std::size_t hidden, Stream stream) {
  constexpr const char* kName = "embedding";
  const int grid = detail::checked_int(num_tokens, kName, "num_tokens");
  const int vocab = detail::checked_int(vocab_size, kName, "vocab_size");
  const int h = detail::checked_int(hidden, kName, "hidden");
  if (grid == 0 || h == 0) return;
  // Rows start 16-byte aligned only if the bases are and hidden is a multiple of 8.
  if (h % detail::kWideElems == 0 && detail::aligned_wide(out) && detail::aligned_wide(table)) {
    launch<detail::Wide>(out, token_ids, grid, table, vocab,
                         h / static_cast<int>(detail::kWideElems), stream);
  } else {
    launch<detail::Narrow>(out, token_ids, grid, table, vocab, h, stream);
  }
  detail::check_launch(kName);
}

}  // namespace waypoint::kernels::cuda
