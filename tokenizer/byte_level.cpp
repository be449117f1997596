#include "tokenizer/byte_level.hpp"

#include <array>

namespace waypoint {
namespace {

// Bytes that are printable Latin-1 map to themselves; the other 68 are moved,
// in byte order, to U+0100 onwards. The largest code point used is U+0143.
constexpr char32_t kMaxCodePoint = 0x143;

constexpr bool maps_to_itself(unsigned b) {
  return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

struct Tables {
  std::array<char32_t, 256> to_unicode{};
  std::array<int16_t, kMaxCodePoint + 1> to_byte{};
};

constexpr Tables make_tables() {
  Tables t;
  for (auto& v : t.to_byte) v = -1;
  char32_t next = 0x100;
  for (unsigned b = 0; b < 256; ++b) {
    const char32_t cp = maps_to_itself(b) ? char32_t(b) : next++;
    t.to_unicode[b] = cp;
    t.to_byte[cp] = int16_t(b);
  }
  return t;
}

constexpr Tables kTables = make_tables();
static_assert(kTables.to_unicode[' '] == 0x120);  // 'Ġ', the familiar GPT-2 space
static_assert(kTables.to_unicode[0xFF] == 0xFF);

void append_utf8(char32_t cp, std::string& out) {
  // Only U+0000..U+07FF occur in the alphabet.
  if (cp < 0x80) {
    out.push_back(char(cp));
  } else {
    out.push_back(char(0xC0 | (cp >> 6)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  }
}

}  // namespace

char32_t byte_to_unicode(uint8_t b) { return kTables.to_unicode[b]; }

void byte_level_encode(std::string_view bytes, std::string& out) {
  for (const char c : bytes) append_utf8(kTables.to_unicode[uint8_t(c)], out);
}

void byte_level_decode(std::string_view token, std::string& out) {
  const size_t start = out.size();
  const auto* p = reinterpret_cast<const unsigned char*>(token.data());
  const size_t n = token.size();
  for (size_t i = 0; i < n;) {
    char32_t cp;
    if (p[i] < 0x80) {
      cp = p[i];
      i += 1;
    } else if ((p[i] & 0xE0) == 0xC0 && i + 1 < n) {
      cp = char32_t(p[i] & 0x1F) << 6 | (p[i + 1] & 0x3F);
      i += 2;
    } else {
      cp = kMaxCodePoint + 1;  // longer sequences are all outside the alphabet
    }
    if (cp > kMaxCodePoint || kTables.to_byte[cp] < 0) {
      out.resize(start);
      out.append(token);
      return;
    }
    out.push_back(char(kTables.to_byte[cp]));
  }
}

}  // namespace waypoint
