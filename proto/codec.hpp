#pragma once
// msgpack encode/decode for every wire type. Decoding never throws and never
// trusts the bytes: sizes are bounded by the frame itself, nesting is bounded,
// and any mismatch comes back as an Error naming what was wrong.
#include <cstddef>
#include <string>
#include <string_view>

#include <msgpack.hpp>

#include "base/result.hpp"

namespace waypoint {

// Frames above this are refused before parsing (a core -> frontend batch of a
// few thousand outputs is well under 1 MiB).
inline constexpr std::size_t kMaxFrameBytes = 64u << 20;

// Parses exactly one msgpack value spanning all of `bytes`.
Result<msgpack::object_handle> unpack_frame(std::string_view bytes,
                                            std::size_t max_bytes = kMaxFrameBytes);

template <class T>
std::string encode(const T& message) {
  msgpack::sbuffer buffer;
  msgpack::pack(buffer, message);
  return std::string(buffer.data(), buffer.size());
}

template <class T>
void encode_into(msgpack::sbuffer& buffer, const T& message) {
  msgpack::pack(buffer, message);
}

// T is a wire type: it names itself in T::kWireName for error messages.
template <class T>
Result<T> decode(std::string_view bytes, std::size_t max_bytes = kMaxFrameBytes) {
  auto handle = unpack_frame(bytes, max_bytes);
  if (!handle) return handle.error();
  try {
    T message{};
    handle->get().convert(message);
    return message;
  } catch (const msgpack::type_error&) {
    return Error{std::string("malformed ") + T::kWireName +
                 ": a field has the wrong type or an unknown enum value"};
  } catch (const std::exception& e) {
    return Error{std::string("malformed ") + T::kWireName + ": " + e.what()};
  }
}

}  // namespace waypoint
