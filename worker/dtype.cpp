#include "worker/dtype.hpp"

#include <bit>
#include <cstring>

#include "kernels/bf16.hpp"

namespace waypoint {

// safetensors stores little-endian values and the conversions read them in place.
static_assert(std::endian::native == std::endian::little);

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::F32:
      return "F32";
    case DType::F16:
      return "F16";
    case DType::BF16:
      return "BF16";
  }
  return "?";
}

std::optional<DType> parse_dtype(std::string_view name) {
  if (name == "F32") return DType::F32;
  if (name == "F16") return DType::F16;
  if (name == "BF16") return DType::BF16;
  return std::nullopt;
}

size_t dtype_size(DType t) { return t == DType::F32 ? 4 : 2; }

float f16_to_f32(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exp = (bits >> 10) & 0x1fu;
  uint32_t mant = bits & 0x3ffu;
  if (exp == 0x1f) {  // inf or NaN: keep the payload bits
    return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));
  }
  if (exp != 0) {
    return std::bit_cast<float>(sign | ((exp + 112u) << 23) | (mant << 13));
  }
  if (mant == 0) return std::bit_cast<float>(sign);
  // Subnormal half: every one is a normal f32, so shift the leading one into the
  // implicit position and lower the exponent to match.
  uint32_t e = 113;
  while ((mant & 0x400u) == 0) {
    mant <<= 1;
    --e;
  }
  return std::bit_cast<float>(sign | (e << 23) | ((mant & 0x3ffu) << 13));
}

uint16_t f32_to_f16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const auto sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) {  // NaN stays a quiet NaN, never rounds into infinity
    return static_cast<uint16_t>(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
  }
  // 65520 is halfway between the largest half (65504) and the next power, whose tie
  // goes to the even side: infinity.
  if (ax >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);
  const int32_t exp = static_cast<int32_t>(ax >> 23) - 127 + 15;
  if (exp >= 1) {
    const uint32_t mant = ax & 0x7fffffu;
    uint32_t h = (static_cast<uint32_t>(exp) << 10) | (mant >> 13);
    const uint32_t rem = mant & 0x1fffu;
    // A carry out of the mantissa bumps the exponent, which is the right result.
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u) != 0)) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  // Below 2^-25 (and 2^-25 itself, a tie to the even zero) everything rounds to zero.
  if (ax <= 0x33000000u) return sign;
  const uint32_t mant = (ax & 0x7fffffu) | 0x800000u;
  const auto shift = static_cast<uint32_t>(14 - exp);  // 14..24 here
  uint32_t h = mant >> shift;
  const uint32_t rem = mant & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1u);
  if (rem > half || (rem == half && (h & 1u) != 0)) ++h;
  return static_cast<uint16_t>(sign | h);
}

void convert_to_f32(DType t, const void* src, float* dst, size_t n) {
  // memcpy per element: a mapped tensor need not be aligned for its type.
  const auto* bytes = static_cast<const unsigned char*>(src);
  switch (t) {
    case DType::F32:
      std::memcpy(dst, src, n * sizeof(float));
      return;
    case DType::F16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t b;
        std::memcpy(&b, bytes + 2 * i, 2);
        dst[i] = f16_to_f32(b);
      }
      return;
    case DType::BF16:
      for (size_t i = 0; i < n; ++i) {
        kernels::bf16 b;
        std::memcpy(&b.bits, bytes + 2 * i, 2);
        dst[i] = kernels::bf16_to_float(b);
      }
      return;
  }
}

}  // namespace waypoint
