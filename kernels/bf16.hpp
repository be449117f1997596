#pragma once
// bf16 as a storage type: the upper half of an IEEE f32. Host code (weight loading,
// tests) converts with these functions; the CUDA kernels view the same bits as
// __nv_bfloat16, so this header needs no CUDA headers.
#include <bit>
#include <cstdint>

namespace waypoint::kernels {

struct bf16 {
  std::uint16_t bits;
};

constexpr float bf16_to_float(bf16 v) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(v.bits) << 16);
}

// Round to nearest, ties to even, as __float2bfloat16 does. A NaN is kept quiet
// rather than rounded, since rounding its payload could carry it into infinity.
constexpr bf16 float_to_bf16(float f) {
  const auto u = std::bit_cast<std::uint32_t>(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) {
    return bf16{static_cast<std::uint16_t>((u >> 16) | 0x0040u)};
  }
  const std::uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
  return bf16{static_cast<std::uint16_t>((u + rounding) >> 16)};
}

constexpr float round_to_bf16(float f) { return bf16_to_float(float_to_bf16(f)); }

}  // namespace waypoint::kernels
