#pragma once
// msgpack encode/decode for every wire type. Decoding never throws and never
// trusts the bytes: sizes are bounded by the frame itself, nesting is bounded,
// and any mismatch comes back as an Error naming what was wrong.
#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>

#include <msgpack.hpp>

#include "base/result.hpp"

namespace waypoint {

// Frames above this are refused before parsing (a core -> frontend batch of a
// few thousand outputs is well under 1 MiB).
inline constexpr std::size_t kMaxFrameBytes = 64u << 20;

// What encode() keeps of its buffer between calls, per thread.
inline constexpr std::size_t kRetainedEncodeBytes = 1u << 20;

// Parses exactly one msgpack value spanning all of `bytes`.
Result<msgpack::object_handle> unpack_frame(std::string_view bytes,
                                            std::size_t max_bytes = kMaxFrameBytes);

namespace detail {

// A msgpack stream into a fixed span. A write is a bounds check and a copy,
// with the position kept in the sink; a message that does not fit leaves
// the sink full, and the caller retries with more room.
class SpanSink {
 public:
  SpanSink(char* begin, char* end) : begin_(begin), at_(begin), end_(end) {}
  void write(const char* data, std::size_t size) {
    if (static_cast<std::size_t>(end_ - at_) < size) {
      at_ = end_;  // and every later write fails too, so no byte lands out of order
      full_ = true;
      return;
    }
    std::memcpy(at_, data, size);
    at_ += size;
  }
  bool full() const { return full_; }
  std::size_t size() const { return static_cast<std::size_t>(at_ - begin_); }

 private:
  char* begin_;
  char* at_;
  char* end_;
  bool full_ = false;
};

}  // namespace detail

template <class T>
std::string encode(const T& message) {
  // Packed into room this thread keeps, then copied out once: an sbuffer
  // would allocate 8 KiB, grow, and copy out on every call, and the engine
  // core encodes each client's outputs every step. The room grows to the
  // largest message seen, up to kRetainedEncodeBytes kept between calls.
  thread_local std::string room(4096, '\0');
  for (;;) {
    detail::SpanSink sink(room.data(), room.data() + room.size());
    msgpack::pack(sink, message);
    if (!sink.full()) {
      std::string frame(room.data(), sink.size());
      if (room.size() > kRetainedEncodeBytes) room.assign(4096, '\0');
      return frame;
    }
    room.resize(room.size() * 2);
  }
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
