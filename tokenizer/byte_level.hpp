#pragma once
// GPT-2's byte-level alphabet: every byte maps to a printable code point, so a
// BPE vocabulary over those code points covers all byte strings. Byte-level
// tokenizers (GPT-2, Llama-3, Qwen) store their vocabulary in this alphabet.
#include <cstdint>
#include <string>
#include <string_view>

namespace waypoint {

// The code point GPT-2's bytes_to_unicode() assigns to byte b.
char32_t byte_to_unicode(uint8_t b);

// Appends the byte-level form of raw bytes (each byte as its code point in UTF-8).
void byte_level_encode(std::string_view bytes, std::string& out);

// Appends the bytes a byte-level token stands for. A token with a code point
// outside the alphabet (an added token such as "<|im_start|>" is fine, but
// "€" is not) is appended verbatim instead, as HF's ByteLevel decoder does.
void byte_level_decode(std::string_view token, std::string& out);

}  // namespace waypoint
