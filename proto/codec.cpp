#include "proto/codec.hpp"

#include <exception>
#include <new>

namespace waypoint {

namespace {
// Deeper nesting than any wire type uses; bounds the parser's stack.
constexpr std::size_t kMaxDepth = 32;
}  // namespace

Result<msgpack::object_handle> unpack_frame(std::string_view bytes, std::size_t max_bytes) {
  if (bytes.empty()) return Error{"empty frame"};
  if (bytes.size() > max_bytes) {
    return Error{"frame of " + std::to_string(bytes.size()) + " bytes exceeds the limit of " +
                 std::to_string(max_bytes)};
  }
  // Every element takes at least one byte, so no container or string in a
  // well-formed frame can claim more entries than the frame has bytes. The
  // limit stops a 5-byte header from asking for a 4-billion-entry array.
  const std::size_t n = bytes.size();
  const msgpack::unpack_limit limit(n, n, n, n, n, kMaxDepth);
  std::size_t offset = 0;
  try {
    msgpack::object_handle handle =
        msgpack::unpack(bytes.data(), bytes.size(), offset, nullptr, nullptr, limit);
    if (offset != bytes.size()) {
      return Error{"trailing " + std::to_string(bytes.size() - offset) + " bytes after message"};
    }
    return handle;
  } catch (const msgpack::insufficient_bytes&) {
    return Error{"truncated frame"};
  } catch (const msgpack::depth_size_overflow&) {
    return Error{"frame nests deeper than " + std::to_string(kMaxDepth) + " levels"};
  } catch (const msgpack::size_overflow&) {
    return Error{
        "truncated or corrupt frame: a container or string claims more bytes than the "
        "frame holds"};
  } catch (const std::bad_alloc&) {
    return Error{"frame needs more memory than is available"};
  } catch (const std::exception& e) {
    return Error{std::string("unparseable frame: ") + e.what()};
  }
}

}  // namespace waypoint
