#pragma once
// UTF-8 checks the frontend needs at its edges: request bodies must be
// well-formed before JSON parsing (a bad one is a 400 that names the byte), and
// streamed text must never end in the middle of a code point.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace waypoint {

enum class Utf8Error : uint8_t {
  kNone,
  kInvalidByte,        // 0xF8..0xFF: never part of UTF-8
  kStrayContinuation,  // 0x80..0xBF where a sequence should start
  kOverlong,           // C0/C1 leads, E0 80..9F, F0 80..8F
  kSurrogate,          // U+D800..U+DFFF (ED A0..BF)
  kOutOfRange,         // above U+10FFFF (F4 90.., F5..F7 leads)
  kTruncated,          // a lead byte not followed by enough continuation bytes
};

struct Utf8Validation {
  Utf8Error error = Utf8Error::kNone;
  // Offset of the first byte of the first ill-formed sequence, i.e. the length
  // of the longest valid prefix; the input's size when it is valid.
  size_t offset = 0;

  bool ok() const { return error == Utf8Error::kNone; }
};

Utf8Validation validate_utf8(std::string_view s);

// "overlong encoding", "surrogate code point", ...; "valid" for kNone.
const char* utf8_error_name(Utf8Error error);

// One line for an HTTP 400: "invalid UTF-8 at byte 12: surrogate code point".
std::string utf8_error_message(const Utf8Validation& v);

// Length of the longest prefix of s that does not end inside a code point: s
// minus a trailing sequence that is incomplete but could still be completed by
// more bytes. A trailing sequence that can never become valid (e.g. C0, E0 80)
// is not held back, so that bad bytes don't stall a stream.
size_t utf8_complete_prefix_len(std::string_view s);

}  // namespace waypoint
