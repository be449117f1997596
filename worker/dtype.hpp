#pragma once
// Element types of stored weights, as safetensors names them.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace waypoint {

enum class DType : uint8_t { F32, F16, BF16 };

std::string_view dtype_name(DType t);                     // "F32", "F16", "BF16"
std::optional<DType> parse_dtype(std::string_view name);  // nullopt for anything else
size_t dtype_size(DType t);

// Converts n stored elements to f32.
void convert_to_f32(DType t, const void* src, float* dst, size_t n);
float f16_to_f32(uint16_t bits);
uint16_t f32_to_f16(float f);  // round to nearest even

}  // namespace waypoint
