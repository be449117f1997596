#include "tokenizer/utf8_lossy.hpp"

#include <cstddef>

#include "tokenizer/utf8.hpp"

namespace waypoint {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

// Length of the maximal subpart starting at p[0], an ill-formed sequence: the
// lead and those following bytes that could still have continued it. Never 0.
size_t maximal_subpart_len(const unsigned char* p, size_t n) {
  const unsigned char lead = p[0];
  size_t want = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    want = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    want = 3;
    if (lead == 0xE0) lo = 0xA0;
    if (lead == 0xED) hi = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    want = 4;
    if (lead == 0xF0) lo = 0x90;
    if (lead == 0xF4) hi = 0x8F;
  } else {
    return 1;
  }
  size_t len = 1;
  while (len < want && len < n) {
    const unsigned char b = p[len];
    const bool ok = len == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
    if (!ok) break;
    ++len;
  }
  return len;
}

}  // namespace

std::string to_valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  while (!s.empty()) {
    const Utf8Validation v = validate_utf8(s);
    out.append(s.substr(0, v.offset));
    if (v.ok()) break;
    s.remove_prefix(v.offset);
    out.append(kReplacement);
    s.remove_prefix(
        maximal_subpart_len(reinterpret_cast<const unsigned char*>(s.data()), s.size()));
  }
  return out;
}

}  // namespace waypoint
