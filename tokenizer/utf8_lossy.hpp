#pragma once
// Turning arbitrary bytes into well-formed UTF-8. The tokenizer works on text,
// and Python's str (what HF tokenizers see) cannot even hold invalid bytes, so
// every byte string that crosses into or out of the tokenizer is made valid here.
#include <string>
#include <string_view>

namespace waypoint {

// s with each maximal ill-formed subpart replaced by U+FFFD (the Unicode
// "substitution of maximal subparts" practice, as in Rust's from_utf8_lossy and
// the WHATWG decoder), so "a\xE6\x97b" gives "a\uFFFDb" but "\xFF\xFF" gives two.
std::string to_valid_utf8(std::string_view s);

}  // namespace waypoint
