#pragma once
// A small, deterministic byte-level BPE trainer, enough to give the built-in model a real
// tokenizer: the corpus is split the way Llama-3's pre-tokenizer splits it, every chunk
// becomes byte tokens in GPT-2's bytes_to_unicode alphabet, and the most frequent
// adjacent pair is merged until the vocabulary is full or nothing is left to merge.
#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace waypoint::tools {

// GPT-2's bytes_to_unicode: byte b is written as the UTF-8 character alphabet[b]
// (printable bytes as themselves, the others shifted to U+0100.., so ' ' is "Ġ").
std::array<std::string, 256> byte_level_alphabet();

// The 256 bytes in GPT-2's id order (printable ranges first, then the shifted ones), so
// that token id i of a trained vocabulary is byte byte_order()[i], as in GPT-2 and Llama-3.
std::array<unsigned char, 256> byte_order();

// Llama-3's pre-tokenizer regex
//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//    ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// matched by hand for ASCII text (bytes >= 0x80 count as letters). The trainer only ever
// sees the built-in ASCII corpus, so this avoids a regex engine in the CLI.
std::vector<std::string> split_llama3_ascii(std::string_view text);

struct BpeVocabulary {
  std::vector<std::string> tokens;                          // id -> token (alphabet form)
  std::vector<std::pair<std::string, std::string>> merges;  // rank order
};

// Trains on CORPUS until the vocabulary has TARGET_SIZE tokens (at least the 256 byte
// tokens) or no adjacent pair is left. Ties between equally frequent pairs go to the
// lexicographically smaller (left, right) pair of token strings, so the result does not
// depend on hash or container order.
BpeVocabulary train_byte_level_bpe(std::string_view corpus, size_t target_size);

// Extends V to TARGET_SIZE tokens with made-up merges, for a vocabulary larger than the
// corpus can teach: each token, in id order, joined to each byte token, in id order,
// skipping strings the vocabulary has. They rank after every learned merge, so text
// the learned merges tokenize whole is tokenized as before.
void pad_byte_level_bpe(BpeVocabulary& v, size_t target_size);

}  // namespace waypoint::tools
