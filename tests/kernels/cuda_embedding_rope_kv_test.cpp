// The CUDA kernels that move or rotate rows ahead of attention: embedding lookup,
// rotary embedding and the KV cache write. The lookup and the write only copy bits,
// so they must match their references exactly; the rotation is checked against the
// CPU kernel. On a machine without a GPU every test skips.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/bf16.hpp"
#include "kernels/cpu/rope_inv_freq.hpp"
#include "kernels/cpu/rotary_embedding.hpp"
#include "kernels/cuda/embedding.hpp"
#include "kernels/cuda/kv_cache_write.hpp"
#include "kernels/cuda/rotary_embedding.hpp"
#include "tests/kernels/cuda_test_support.hpp"
#include "tests/kernels/device_buffer.hpp"

namespace waypoint::kernels {
namespace {

using testing::check_cuda;
using testing::DeviceBuffer;
using testing::random_bf16;

class CudaRowKernels : public testing::CudaTest {};

// Names the first element whose bits differ.
::testing::AssertionResult same_bits(std::span<const bf16> actual, std::span<const bf16> expected) {
  if (actual.size() != expected.size()) {
    return ::testing::AssertionFailure() << "size " << actual.size() << " vs " << expected.size();
  }
  for (std::size_t i = 0; i < actual.size(); ++i) {
    if (actual[i].bits != expected[i].bits) {
      return ::testing::AssertionFailure()
             << "element " << i << ": 0x" << std::hex << actual[i].bits << " vs 0x"
             << expected[i].bits << std::dec << " (" << bf16_to_float(actual[i]) << " vs "
             << bf16_to_float(expected[i]) << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

// A bit pattern no kernel writes by chance: tells "left untouched" from "zeroed".
constexpr std::uint16_t kSentinel = 0x7f7f;
constexpr double kRotaryRel = 1.0 / 128;

TEST_F(CudaRowKernels, EmbeddingCopiesRowsAndZerosOutOfRangeIds) {
  constexpr std::size_t kVocab = 50;
  const std::vector<std::int32_t> ids = {3, 0, 49, -1, 50, 7, 3, INT32_MAX, INT32_MIN};
  // 4096 moves 16-byte words, 1001 single bf16; an output that starts one element
  // into its buffer is not 16-byte aligned and must take the narrow path too.
  struct Case {
    std::size_t hidden;
    std::size_t out_offset;
  };
  for (const auto& [hidden, out_offset] : {Case{4096, 0}, Case{1001, 0}, Case{4096, 1}}) {
    SCOPED_TRACE("hidden " + std::to_string(hidden) + ", out offset " + std::to_string(out_offset));
    const auto table = random_bf16(kVocab * hidden, 51);
    std::vector<bf16> expected(ids.size() * hidden, bf16{0});
    for (std::size_t t = 0; t < ids.size(); ++t) {
      const std::int32_t id = ids[t];
      if (id < 0 || static_cast<std::size_t>(id) >= kVocab) continue;
      for (std::size_t j = 0; j < hidden; ++j) {
        expected[t * hidden + j] = table.bits[static_cast<std::size_t>(id) * hidden + j];
      }
    }

    DeviceBuffer<std::int32_t> d_ids{std::span<const std::int32_t>(ids)};
    DeviceBuffer<bf16> d_table{std::span<const bf16>(table.bits)};
    const std::vector<bf16> init(out_offset + expected.size(), bf16{kSentinel});
    DeviceBuffer<bf16> d_out{std::span<const bf16>(init)};
    cuda::embedding(d_out.get() + out_offset, d_ids.get(), ids.size(), d_table.get(), kVocab,
                    hidden, nullptr);
    const auto out = d_out.to_host();
    EXPECT_TRUE(same_bits(std::span<const bf16>(out).subspan(out_offset), expected));
    if (out_offset > 0) {
      EXPECT_EQ(out[0].bits, kSentinel) << "wrote before out";
    }
  }
}

// q and k as the model runner passes them: views into one fused [q | k | v] buffer.
struct FusedQkv {
  std::size_t num_q_heads, num_kv_heads, head_dim;
  std::size_t stride() const { return (num_q_heads + 2 * num_kv_heads) * head_dim; }
  std::size_t k_offset() const { return num_q_heads * head_dim; }
  std::size_t v_offset() const { return (num_q_heads + num_kv_heads) * head_dim; }
};

TEST_F(CudaRowKernels, RotaryEmbeddingMatchesCpu) {
  constexpr std::size_t kMaxPositions = 4096;
  struct Case {
    FusedQkv qkv;
    std::size_t rotary_dim;
  };
  // GQA with full rotation at both head sizes, and a partial rotation whose
  // pass-through dims must come back untouched.
  for (const auto& [qkv, rotary_dim] :
       {Case{{8, 2, 128}, 128}, Case{{8, 2, 64}, 64}, Case{{4, 4, 64}, 32}}) {
    SCOPED_TRACE("heads " + std::to_string(qkv.num_q_heads) + "/" +
                 std::to_string(qkv.num_kv_heads) + ", head_dim " + std::to_string(qkv.head_dim) +
                 ", rotary_dim " + std::to_string(rotary_dim));
    const cuda::RotaryShape shape{qkv.num_q_heads, qkv.num_kv_heads, qkv.head_dim, rotary_dim};
    const cpu::RotaryShape cpu_shape{qkv.num_q_heads, qkv.num_kv_heads, qkv.head_dim, rotary_dim};
    std::vector<float> inv_freq(rotary_dim / 2);
    cpu::rope_inv_freq(inv_freq, rotary_dim, 500000.0);
    std::vector<float> cache(kMaxPositions * rotary_dim);
    cpu::rope_cos_sin_cache(cache, kMaxPositions, inv_freq);

    // Any order, repeats, both ends of the cache.
    const std::vector<std::int64_t> positions = {0, 1, 4095, 17, 17, 2048, 999, 3};
    const std::size_t num_tokens = positions.size();
    const std::size_t stride = qkv.stride();
    const auto data = random_bf16(num_tokens * stride, 52, -4.0f, 4.0f);

    std::vector<float> q(num_tokens * qkv.num_q_heads * qkv.head_dim);
    std::vector<float> k(num_tokens * qkv.num_kv_heads * qkv.head_dim);
    for (std::size_t t = 0; t < num_tokens; ++t) {
      const float* row = data.values.data() + t * stride;
      std::copy(row, row + qkv.k_offset(), q.begin() + t * qkv.k_offset());
      std::copy(row + qkv.k_offset(), row + qkv.v_offset(),
                k.begin() + t * (qkv.v_offset() - qkv.k_offset()));
    }
    cpu::rotary_embedding(positions, q, k, cpu_shape, cache);

    DeviceBuffer<bf16> d_qkv{std::span<const bf16>(data.bits)};
    DeviceBuffer<std::int64_t> d_positions{std::span<const std::int64_t>(positions)};
    DeviceBuffer<float> d_cache{std::span<const float>(cache)};
    cuda::rotary_embedding(d_positions.get(), d_qkv.get(), d_qkv.get() + qkv.k_offset(), num_tokens,
                           stride, stride, shape, d_cache.get(), nullptr);
    const auto out = d_qkv.to_host();

    // Rotated pairs: the device rounds its f32 result to bf16, at most half an ulp,
    // 2^-8 of the value and so of the pair's length, which rotation preserves; the
    // tolerance is twice that. Before the rounding both sides do the same f32
    // operations (the device's *_rn intrinsics forbid FMA contraction; on x86-64 the
    // CPU kernel has no FMA either, and there the results are in fact bit-identical),
    // and a host compiler that does contract moves the f32 result by ~2^-22 of the
    // length, far inside the tolerance. Pass-through dims and v must be untouched.
    const std::size_t half = rotary_dim / 2;
    const std::size_t num_heads = qkv.num_q_heads + qkv.num_kv_heads;
    for (std::size_t t = 0; t < num_tokens; ++t) {
      for (std::size_t head = 0; head < num_heads; ++head) {
        const bool is_q = head < qkv.num_q_heads;
        const std::size_t base = t * stride + head * qkv.head_dim;  // q then k, as in qkv
        const float* ref =
            is_q ? q.data() + (t * qkv.num_q_heads + head) * qkv.head_dim
                 : k.data() + (t * qkv.num_kv_heads + head - qkv.num_q_heads) * qkv.head_dim;
        for (std::size_t i = 0; i < half; ++i) {
          const double tol = kRotaryRel * std::hypot(ref[i], ref[half + i]) + 1e-30;
          ASSERT_NEAR(bf16_to_float(out[base + i]), ref[i], tol)
              << "token " << t << " head " << head << " dim " << i;
          ASSERT_NEAR(bf16_to_float(out[base + half + i]), ref[half + i], tol)
              << "token " << t << " head " << head << " dim " << half + i;
        }
        for (std::size_t j = rotary_dim; j < qkv.head_dim; ++j) {
          ASSERT_EQ(out[base + j].bits, data.bits[base + j].bits) << "pass-through dim " << j;
        }
      }
      for (std::size_t j = qkv.v_offset(); j < stride; ++j) {
        ASSERT_EQ(out[t * stride + j].bits, data.bits[t * stride + j].bits) << "v element " << j;
      }
    }
  }
}

TEST_F(CudaRowKernels, RotaryEmbeddingSkipsNegativePositions) {
  const cuda::RotaryShape shape{2, 1, 64, 64};
  const FusedQkv qkv{2, 1, 64};
  std::vector<float> inv_freq(32);
  cpu::rope_inv_freq(inv_freq, 64, 10000.0);
  std::vector<float> cache(16 * 64);
  cpu::rope_cos_sin_cache(cache, 16, inv_freq);
  const std::vector<std::int64_t> positions = {-1, 5};
  const auto data = random_bf16(2 * qkv.stride(), 53);

  DeviceBuffer<bf16> d_qkv{std::span<const bf16>(data.bits)};
  DeviceBuffer<std::int64_t> d_positions{std::span<const std::int64_t>(positions)};
  DeviceBuffer<float> d_cache{std::span<const float>(cache)};
  cuda::rotary_embedding(d_positions.get(), d_qkv.get(), d_qkv.get() + qkv.k_offset(), 2,
                         qkv.stride(), qkv.stride(), shape, d_cache.get(), nullptr);
  const auto out = d_qkv.to_host();
  const std::span<const bf16> first(out.data(), qkv.stride());
  EXPECT_TRUE(same_bits(first, std::span<const bf16>(data.bits.data(), qkv.stride())));
  // The other token was rotated: position 5 changes some of its q.
  bool changed = false;
  for (std::size_t j = 0; j < qkv.k_offset(); ++j) {
    changed |= out[qkv.stride() + j].bits != data.bits[qkv.stride() + j].bits;
  }
  EXPECT_TRUE(changed);
}

TEST_F(CudaRowKernels, RotaryEmbeddingRejectsBadShapes) {
  const cuda::RotaryShape odd{2, 1, 64, 63};
  EXPECT_THROW(
      cuda::rotary_embedding(nullptr, nullptr, nullptr, 1, 192, 192, odd, nullptr, nullptr),
      std::invalid_argument);
  const cuda::RotaryShape shape{2, 1, 64, 64};
  EXPECT_THROW(
      cuda::rotary_embedding(nullptr, nullptr, nullptr, 1, 64, 64, shape, nullptr, nullptr),
      std::invalid_argument);  // q_stride shorter than two q heads
  EXPECT_NO_THROW(
      cuda::rotary_embedding(nullptr, nullptr, nullptr, 0, 192, 192, shape, nullptr, nullptr));
}

TEST_F(CudaRowKernels, WriteKvCacheScattersRowsAndSkipsPadding) {
  constexpr std::size_t kNumSlots = 64;
  const std::vector<std::int64_t> slots = {17, -1, 3, 40, 63, -1, 0};
  const std::size_t num_tokens = slots.size();
  // 2 x 128 moves 16-byte words; 3 x 5 (a row of 15, odd strides) single bf16.
  for (const FusedQkv& qkv : {FusedQkv{4, 2, 128}, FusedQkv{3, 3, 5}}) {
    SCOPED_TRACE("kv heads " + std::to_string(qkv.num_kv_heads) + ", head_dim " +
                 std::to_string(qkv.head_dim));
    const std::size_t width = qkv.num_kv_heads * qkv.head_dim;
    const std::size_t stride = qkv.stride();
    const auto data = random_bf16(num_tokens * stride, 54);
    const auto key_init = random_bf16(kNumSlots * width, 55);
    const auto value_init = random_bf16(kNumSlots * width, 56);
    std::vector<bf16> expected_key = key_init.bits;
    std::vector<bf16> expected_value = value_init.bits;
    for (std::size_t t = 0; t < num_tokens; ++t) {
      if (slots[t] < 0) continue;
      const auto slot = static_cast<std::size_t>(slots[t]);
      for (std::size_t j = 0; j < width; ++j) {
        expected_key[slot * width + j] = data.bits[t * stride + qkv.k_offset() + j];
        expected_value[slot * width + j] = data.bits[t * stride + qkv.v_offset() + j];
      }
    }

    DeviceBuffer<bf16> d_qkv{std::span<const bf16>(data.bits)};
    DeviceBuffer<std::int64_t> d_slots{std::span<const std::int64_t>(slots)};
    DeviceBuffer<bf16> d_key{std::span<const bf16>(key_init.bits)};
    DeviceBuffer<bf16> d_value{std::span<const bf16>(value_init.bits)};
    cuda::write_kv_cache(d_key.get(), d_value.get(), d_qkv.get() + qkv.k_offset(),
                         d_qkv.get() + qkv.v_offset(), stride, stride, d_slots.get(), num_tokens,
                         qkv.num_kv_heads, qkv.head_dim, nullptr);
    EXPECT_TRUE(same_bits(d_key.to_host(), expected_key));
    EXPECT_TRUE(same_bits(d_value.to_host(), expected_value));
  }
}

TEST_F(CudaRowKernels, WriteKvCacheRejectsShortStrides) {
  EXPECT_THROW(cuda::write_kv_cache(nullptr, nullptr, nullptr, nullptr, 255, 256, nullptr, 1, 2,
                                    128, nullptr),
               std::invalid_argument);
  EXPECT_NO_THROW(cuda::write_kv_cache(nullptr, nullptr, nullptr, nullptr, 256, 256, nullptr, 0, 2,
                                       128, nullptr));
  check_cuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}

}  // namespace
}  // namespace waypoint::kernels
