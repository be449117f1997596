// Paged attention on the device against a plain-loop reference in double. Each case
// is one step of the model runner for one layer: earlier tokens' K/V are already in
// the cache, this step's come from a fused [q | k | v] buffer and are written with
// write_kv_cache, and then attention runs over a batch that mixes decode tokens and
// prefill chunks. Physical blocks are handed out in shuffled order, so every
// sequence's KV is scattered; every slot that holds no token, and a spare block that
// the unused block-table entries point at, is NaN, so a read of anything the kernel
// must not read shows up in the output. On a machine without a GPU every test skips.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/bf16.hpp"
#include "kernels/cuda/kv_cache_write.hpp"
#include "kernels/cuda/paged_attention.hpp"
#include "tests/kernels/cuda_test_support.hpp"
#include "tests/kernels/device_buffer.hpp"

namespace waypoint::kernels {
namespace {

using testing::Bf16Data;
using testing::check_cuda;
using testing::DeviceBuffer;
using testing::random_bf16;

class CudaPagedAttention : public testing::CudaTest {};

// The output is a convex combination of V rows (|v| <= 2) stored as bf16: rounding
// it is at most half an ulp, 2^-8 relative, and kRel allows twice that. Everything
// before the store is f32: a score's dot product is off by ~1e-5 at most at these
// sizes, which moves a probability by a relative ~1e-5, and the sums over up to 8k
// positions add a few f32 ulps more; kAbs bounds that, with margin, where outputs
// near zero (cancelling V rows) make the relative term useless. A masking or
// block-table mistake moves outputs by far more (one position in a short prefill
// weighs ~1/20).
constexpr double kRel = 1.0 / 128;
constexpr double kAbs = 5e-4;

constexpr std::uint16_t kNaN = 0x7fc0;
constexpr std::uint16_t kUnwritten = 0xffc1;  // a NaN payload the kernel never produces
constexpr int kPadTokens = 2;                 // padding rows after the last sequence's tokens

struct Layout {
  int num_q_heads, num_kv_heads, head_dim, block_size;
};

// A sequence in this step: `computed` tokens of KV already in the cache, then q_len
// query tokens whose KV this step writes. seq_len = computed + q_len.
struct Seq {
  int computed;
  int q_len;
};

std::string describe(const Layout& l) {
  return "heads " + std::to_string(l.num_q_heads) + "/" + std::to_string(l.num_kv_heads) +
         ", head_dim " + std::to_string(l.head_dim) + ", block_size " +
         std::to_string(l.block_size);
}

// With understate_hints, max_seq_len and max_query_len understate the batch: the
// header promises that only the speed suffers.
void check_step(const Layout& layout, const std::vector<Seq>& seqs, std::uint32_t seed,
                bool understate_hints = false) {
  SCOPED_TRACE(describe(layout));
  const int nq = layout.num_q_heads;
  const int nkv = layout.num_kv_heads;
  const int dim = layout.head_dim;
  const int bs = layout.block_size;
  const int group = nq / nkv;
  const auto width = static_cast<std::size_t>(nkv) * dim;  // one token's K (or V) row
  const std::size_t stride = static_cast<std::size_t>(nq + 2 * nkv) * dim;
  const std::size_t k_offset = static_cast<std::size_t>(nq) * dim;
  const std::size_t v_offset = k_offset + width;
  const int num_seqs = static_cast<int>(seqs.size());

  std::vector<std::int32_t> query_start(num_seqs + 1, 0);
  std::vector<std::int32_t> seq_lens(num_seqs);
  int max_query_len = 0;
  int max_seq_len = 0;
  int total_blocks = 0;
  int max_blocks_per_seq = 1;
  for (int s = 0; s < num_seqs; ++s) {
    query_start[s + 1] = query_start[s] + seqs[s].q_len;
    seq_lens[s] = seqs[s].computed + seqs[s].q_len;
    max_query_len = std::max(max_query_len, seqs[s].q_len);
    max_seq_len = std::max(max_seq_len, seq_lens[s]);
    const int blocks = (seq_lens[s] + bs - 1) / bs;
    total_blocks += blocks;
    // One entry more than the sequence needs: it points at the poison block.
    max_blocks_per_seq = std::max(max_blocks_per_seq, blocks + 1);
  }
  const int num_real = query_start.back();
  const int num_tokens = num_real + kPadTokens;

  // Shuffled physical blocks, plus a few that no sequence owns; the last one is the
  // poison block.
  std::mt19937 rng(seed);
  std::vector<std::int32_t> physical(total_blocks + 4);
  std::iota(physical.begin(), physical.end(), 0);
  std::shuffle(physical.begin(), physical.end(), rng);
  const std::size_t num_slots = physical.size() * bs;
  std::vector<std::int32_t> block_tables(static_cast<std::size_t>(num_seqs) * max_blocks_per_seq,
                                         physical.back());
  std::size_t next_block = 0;
  for (int s = 0; s < num_seqs; ++s) {
    for (int b = 0; b < (seq_lens[s] + bs - 1) / bs; ++b) {
      block_tables[static_cast<std::size_t>(s) * max_blocks_per_seq + b] = physical[next_block++];
    }
  }
  auto slot_of = [&](int s, int pos) {
    return static_cast<std::int64_t>(
               block_tables[static_cast<std::size_t>(s) * max_blocks_per_seq + pos / bs]) *
               bs +
           pos % bs;
  };

  // Each sequence's K and V by position, [seq_len, nkv, dim]; q from the fused buffer.
  std::vector<Bf16Data> keys;
  std::vector<Bf16Data> values;
  for (int s = 0; s < num_seqs; ++s) {
    const auto n = static_cast<std::size_t>(seq_lens[s]) * width;
    keys.push_back(random_bf16(n, seed + 100 + 2 * s));
    values.push_back(random_bf16(n, seed + 101 + 2 * s));
  }
  std::vector<bf16> qkv = random_bf16(num_tokens * stride, seed + 1).bits;
  std::vector<std::int64_t> slots(num_tokens, -1);  // the padding tokens write nothing
  std::vector<bf16> key_cache(num_slots * width, bf16{kNaN});
  std::vector<bf16> value_cache(num_slots * width, bf16{kNaN});
  for (int s = 0; s < num_seqs; ++s) {
    for (int pos = 0; pos < seq_lens[s]; ++pos) {
      const bf16* k_row = keys[s].bits.data() + static_cast<std::size_t>(pos) * width;
      const bf16* v_row = values[s].bits.data() + static_cast<std::size_t>(pos) * width;
      if (pos < seqs[s].computed) {  // an earlier step's token: already cached
        const auto slot = static_cast<std::size_t>(slot_of(s, pos));
        std::copy(k_row, k_row + width, key_cache.begin() + slot * width);
        std::copy(v_row, v_row + width, value_cache.begin() + slot * width);
      } else {  // this step's token: its K/V are in qkv, for write_kv_cache
        const int t = query_start[s] + pos - seqs[s].computed;
        std::copy(k_row, k_row + width, qkv.begin() + t * stride + k_offset);
        std::copy(v_row, v_row + width, qkv.begin() + t * stride + v_offset);
        slots[t] = slot_of(s, pos);
      }
    }
  }

  DeviceBuffer<bf16> d_qkv{std::span<const bf16>(qkv)};
  DeviceBuffer<bf16> d_key_cache{std::span<const bf16>(key_cache)};
  DeviceBuffer<bf16> d_value_cache{std::span<const bf16>(value_cache)};
  DeviceBuffer<std::int64_t> d_slots{std::span<const std::int64_t>(slots)};
  DeviceBuffer<std::int32_t> d_block_tables{std::span<const std::int32_t>(block_tables)};
  DeviceBuffer<std::int32_t> d_query_start{std::span<const std::int32_t>(query_start)};
  DeviceBuffer<std::int32_t> d_seq_lens{std::span<const std::int32_t>(seq_lens)};
  const std::vector<bf16> out_init(static_cast<std::size_t>(num_tokens) * nq * dim,
                                   bf16{kUnwritten});
  DeviceBuffer<bf16> d_out{std::span<const bf16>(out_init)};

  cuda::write_kv_cache(d_key_cache.get(), d_value_cache.get(), d_qkv.get() + k_offset,
                       d_qkv.get() + v_offset, stride, stride, d_slots.get(), num_tokens, nkv, dim,
                       nullptr);
  cuda::PagedAttentionArgs args{};
  args.out = d_out.get();
  args.q = d_qkv.get();
  args.q_stride = stride;
  args.key_cache = d_key_cache.get();
  args.value_cache = d_value_cache.get();
  args.block_tables = d_block_tables.get();
  args.query_start = d_query_start.get();
  args.seq_lens = d_seq_lens.get();
  args.num_seqs = num_seqs;
  args.num_tokens = num_tokens;
  args.max_query_len = max_query_len;
  args.max_seq_len = max_seq_len;
  args.max_blocks_per_seq = max_blocks_per_seq;
  args.num_q_heads = nq;
  args.num_kv_heads = nkv;
  args.head_dim = dim;
  args.block_size = bs;
  args.scale = 1.0f / std::sqrt(static_cast<float>(dim));
  if (understate_hints) {
    args.max_query_len = 1;
    args.max_seq_len = max_seq_len * 3 / 5;
  }
  cuda::paged_attention(args, nullptr);
  const std::vector<bf16> out = d_out.to_host();

  // The reference: causal softmax attention, read from the per-sequence K/V.
  int failures = 0;
  std::vector<double> weights;
  std::vector<double> expected(dim);
  for (int s = 0; s < num_seqs && failures < 10; ++s) {
    for (int i = 0; i < seqs[s].q_len && failures < 10; ++i) {
      const int t = query_start[s] + i;
      const int pos = seqs[s].computed + i;
      for (int h = 0; h < nq && failures < 10; ++h) {
        const std::size_t kv = static_cast<std::size_t>(h / group) * dim;
        const bf16* q = qkv.data() + t * stride + static_cast<std::size_t>(h) * dim;
        weights.assign(pos + 1, 0.0);
        double max_logit = -INFINITY;
        for (int j = 0; j <= pos; ++j) {
          const float* k = keys[s].values.data() + static_cast<std::size_t>(j) * width + kv;
          double dot = 0.0;
          for (int d = 0; d < dim; ++d) dot += static_cast<double>(bf16_to_float(q[d])) * k[d];
          weights[j] = dot * args.scale;
          max_logit = std::max(max_logit, weights[j]);
        }
        double sum = 0.0;
        for (double& w : weights) sum += (w = std::exp(w - max_logit));
        std::fill(expected.begin(), expected.end(), 0.0);
        for (int j = 0; j <= pos; ++j) {
          const float* v = values[s].values.data() + static_cast<std::size_t>(j) * width + kv;
          for (int d = 0; d < dim; ++d) expected[d] += weights[j] / sum * v[d];
        }
        const bf16* actual = out.data() + (static_cast<std::size_t>(t) * nq + h) * dim;
        for (int d = 0; d < dim; ++d) {
          const double a = bf16_to_float(actual[d]);
          if (!(std::abs(a - expected[d]) <= kRel * std::abs(expected[d]) + kAbs)) {
            ADD_FAILURE() << "seq " << s << " (computed " << seqs[s].computed << ", q_len "
                          << seqs[s].q_len << ") query " << i << " head " << h << " dim " << d
                          << ": " << a << " vs expected " << expected[d];
            if (++failures >= 10) break;
          }
        }
      }
    }
  }
  for (std::size_t e = static_cast<std::size_t>(num_real) * nq * dim; e < out.size(); ++e) {
    ASSERT_EQ(out[e].bits, kUnwritten) << "padding row element " << e << " was written";
  }
}

// One decode with a long context over 63 scattered blocks, a prefill chunk that
// continues mid-block from computed tokens, a sequence with no query tokens this
// step, a prefill chunk at positions 250..269 (with the KV range split, as it is for
// this small batch on an H100, the split boundary at 256 falls inside its tiles, so
// some rows have no keys in the second split), a fresh prefill, a one-token prompt,
// and a decode that opens a new block.
const std::vector<Seq> kMixed = {{999, 1}, {37, 50}, {20, 0}, {250, 20}, {0, 23}, {0, 1}, {16, 1}};

TEST_F(CudaPagedAttention, MixedBatchWithGqa) {
  check_step({8, 2, 128, 16}, kMixed, 61);
  check_step({8, 2, 64, 16}, kMixed, 62);
}

// Heads below 64 dims, where only head_dim / 2 lanes of a warp own output dims: the
// make-model tiny preset's 16 (4 q heads on 2 kv heads) and 32, with a group of
// three, a decode-only (split) batch and a block size that is not a power of two.
TEST_F(CudaPagedAttention, SmallHeadDims) {
  check_step({4, 2, 16, 16}, kMixed, 74);
  check_step({8, 2, 32, 16}, kMixed, 75);
  check_step({6, 2, 16, 5}, kMixed, 76);
  const std::vector<Seq> decodes = {{0, 1}, {15, 1}, {699, 1}, {4099, 1}};
  check_step({4, 2, 16, 16}, decodes, 77);
  check_step({8, 8, 32, 16}, decodes, 78);
}

TEST_F(CudaPagedAttention, BlockSizeNotAPowerOfTwo) {
  check_step({8, 2, 64, 5}, kMixed, 63);
  check_step({8, 2, 128, 5}, kMixed, 64);
}

// Three q heads per kv head: query tiles of 16 rows end part-way through a token.
TEST_F(CudaPagedAttention, GroupOfThree) { check_step({6, 2, 64, 16}, kMixed, 65); }

TEST_F(CudaPagedAttention, HeadDim256) {
  check_step({8, 2, 256, 16}, kMixed, 66);
  check_step({4, 4, 256, 16}, kMixed, 67);
}

// max_query_len 1 picks the decode tiling (rows = the group size, rounded up to a
// power of two), and so few blocks split the KV range (flash-decoding) on any GPU
// with more than a couple of SMs.
TEST_F(CudaPagedAttention, DecodeOnlyBatch) {
  const std::vector<Seq> decodes = {{0, 1}, {14, 1}, {15, 1}, {16, 1}, {699, 1}, {4099, 1}};
  check_step({8, 2, 128, 16}, decodes, 68);
  check_step({8, 8, 64, 16}, decodes, 69);  // no GQA: one row per tile
  check_step({4, 4, 256, 5}, decodes, 70);
  check_step({32, 8, 128, 16}, {{8191, 1}}, 71);
}

// Enough query tiles (1100 tokens * 4 heads / 16 rows, times 2 kv heads) to fill an
// H100 without splitting the KV range, next to a decode that then walks 2000
// positions in one block.
TEST_F(CudaPagedAttention, LongPrefillBesideADecode) {
  check_step({8, 2, 128, 16}, {{0, 1100}, {1999, 1}}, 72);
}

// max_query_len 1 picks decode tiles for a batch with prefills, and max_seq_len 600
// makes (on an H100) three splits of 256 positions, the last of which must take the
// 999-token decode's positions 512..999.
TEST_F(CudaPagedAttention, UnderstatedHintsStillGiveTheSameResult) {
  check_step({8, 2, 128, 16}, kMixed, 73, /*understate_hints=*/true);
}

TEST_F(CudaPagedAttention, RejectsUnsupportedShapes) {
  cuda::PagedAttentionArgs args{};
  args.num_seqs = 1;
  args.num_tokens = 1;
  args.max_query_len = 1;
  args.max_seq_len = 1;
  args.max_blocks_per_seq = 1;
  args.block_size = 16;
  args.num_q_heads = 8;
  args.num_kv_heads = 2;
  for (int dim : {8, 48, 96}) {
    args.head_dim = dim;
    args.q_stride = 8 * static_cast<std::size_t>(dim);
    EXPECT_THROW(cuda::paged_attention(args, nullptr), std::invalid_argument) << dim;
  }
  args.head_dim = 128;
  args.q_stride = 8 * 128;
  args.num_kv_heads = 3;
  EXPECT_THROW(cuda::paged_attention(args, nullptr), std::invalid_argument);
  args.num_kv_heads = 2;
  args.q_stride = 8 * 128 - 1;
  EXPECT_THROW(cuda::paged_attention(args, nullptr), std::invalid_argument);
  // Nothing to do: no launch, so the null pointers are never touched.
  args.q_stride = 8 * 128;
  args.num_tokens = 0;
  EXPECT_NO_THROW(cuda::paged_attention(args, nullptr));
  check_cuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}

}  // namespace
}  // namespace waypoint::kernels
