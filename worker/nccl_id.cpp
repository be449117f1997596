#include "worker/nccl_id.hpp"

namespace waypoint {

namespace {
constexpr char kDigits[] = "0123456789abcdef";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::string encode_nccl_id(const NcclIdBytes& id) {
  std::string text;
  text.reserve(2 * id.size());
  for (std::uint8_t b : id) {
    text.push_back(kDigits[b >> 4]);
    text.push_back(kDigits[b & 0xf]);
  }
  return text;
}

Result<NcclIdBytes> decode_nccl_id(std::string_view text) {
  if (text.size() != 2 * kNcclIdBytes) {
    return Error{"an NCCL id is " + std::to_string(2 * kNcclIdBytes) + " hex digits, got " +
                 std::to_string(text.size()) + " characters"};
  }
  NcclIdBytes id{};
  for (std::size_t i = 0; i < id.size(); ++i) {
    const int hi = hex_value(text[2 * i]);
    const int lo = hex_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return Error{"an NCCL id is hex digits; character " +
                   std::to_string(hi < 0 ? 2 * i : 2 * i + 1) + " is not one"};
    }
    id[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return id;
}

}  // namespace waypoint
