#include "tokenizer/utf8.hpp"

#include <cstring>

namespace waypoint {
namespace {

bool is_continuation(unsigned char b) { return (b & 0xC0) == 0x80; }

// Bytes in the sequence that b starts; 0 when b can start no well-formed one.
size_t sequence_len(unsigned char b) {
  if (b < 0x80) return 1;
  if (b < 0xC2) return 0;  // continuation byte, or C0/C1 which only encode overlongs
  if (b < 0xE0) return 2;
  if (b < 0xF0) return 3;
  if (b < 0xF5) return 4;
  return 0;
}

// Why b cannot start a sequence (sequence_len(b) == 0).
Utf8Error bad_lead(unsigned char b) {
  if (is_continuation(b)) return Utf8Error::kStrayContinuation;
  if (b < 0xC2) return Utf8Error::kOverlong;
  if (b < 0xF8) return Utf8Error::kOutOfRange;
  return Utf8Error::kInvalidByte;
}

// The second byte is where overlongs, surrogates and values past U+10FFFF show
// (Unicode Table 3-7); later bytes only need to be continuation bytes.
Utf8Error check_second(unsigned char lead, unsigned char b) {
  if (!is_continuation(b)) return Utf8Error::kTruncated;
  switch (lead) {
    case 0xE0:
      return b < 0xA0 ? Utf8Error::kOverlong : Utf8Error::kNone;
    case 0xED:
      return b > 0x9F ? Utf8Error::kSurrogate : Utf8Error::kNone;
    case 0xF0:
      return b < 0x90 ? Utf8Error::kOverlong : Utf8Error::kNone;
    case 0xF4:
      return b > 0x8F ? Utf8Error::kOutOfRange : Utf8Error::kNone;
    default:
      return Utf8Error::kNone;
  }
}

}  // namespace

Utf8Validation validate_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    // Request bodies are mostly ASCII JSON: skip it eight bytes at a time.
    if (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      if ((w & 0x8080808080808080ull) == 0) {
        i += 8;
        continue;
      }
    }
    const unsigned char lead = p[i];
    const size_t len = sequence_len(lead);
    if (len == 1) {
      ++i;
      continue;
    }
    if (len == 0) return {bad_lead(lead), i};
    for (size_t k = 1; k < len; ++k) {
      if (i + k >= n) return {Utf8Error::kTruncated, i};
      const Utf8Error e =
          k == 1 ? check_second(lead, p[i + 1])
                 : (is_continuation(p[i + k]) ? Utf8Error::kNone : Utf8Error::kTruncated);
      if (e != Utf8Error::kNone) return {e, i};
    }
    i += len;
  }
  return {Utf8Error::kNone, n};
}

const char* utf8_error_name(Utf8Error error) {
  switch (error) {
    case Utf8Error::kNone:
      return "valid";
    case Utf8Error::kInvalidByte:
      return "invalid byte";
    case Utf8Error::kStrayContinuation:
      return "unexpected continuation byte";
    case Utf8Error::kOverlong:
      return "overlong encoding";
    case Utf8Error::kSurrogate:
      return "surrogate code point";
    case Utf8Error::kOutOfRange:
      return "code point above U+10FFFF";
    case Utf8Error::kTruncated:
      return "truncated sequence";
  }
  return "unknown";
}

std::string utf8_error_message(const Utf8Validation& v) {
  if (v.ok()) return "valid UTF-8";
  return "invalid UTF-8 at byte " + std::to_string(v.offset) + ": " + utf8_error_name(v.error);
}

size_t utf8_complete_prefix_len(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  // A code point is at most 4 bytes, so an unfinished one has at most 3 bytes
  // after its lead.
  size_t i = n;
  while (i > 0 && n - i < 3 && is_continuation(p[i - 1])) --i;
  if (i == 0) return n;
  const unsigned char lead = p[i - 1];
  const size_t have = n - i + 1;
  const size_t need = sequence_len(lead);
  if (need <= 1 || have >= need) return n;
  if (have >= 2 && check_second(lead, p[i]) != Utf8Error::kNone) return n;
  return i - 1;
}

}  // namespace waypoint
