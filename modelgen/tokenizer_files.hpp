#pragma once
// The tokenizer files of a `waypoint make-model` directory: tokenizer.json (a Llama-3
// style byte-level BPE trained on a built-in English corpus) and tokenizer_config.json
// (BOS/EOS and Llama-3's chat template), both in Hugging Face's format.
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

namespace waypoint::tools {

// Llama-3's special tokens, in the order their ids follow the BPE vocabulary.
inline constexpr std::string_view kBeginOfText = "<|begin_of_text|>";
inline constexpr std::string_view kEndOfText = "<|end_of_text|>";
inline constexpr std::string_view kStartHeaderId = "<|start_header_id|>";
inline constexpr std::string_view kEndHeaderId = "<|end_header_id|>";
inline constexpr std::string_view kEotId = "<|eot_id|>";

// A few paragraphs of plain ASCII English the BPE merges are learned from.
std::string_view builtin_corpus();

// Meta-Llama-3-8B-Instruct's chat_template, verbatim.
std::string_view llama3_chat_template();

struct TokenizerFiles {
  nlohmann::ordered_json tokenizer;         // tokenizer.json
  nlohmann::ordered_json tokenizer_config;  // tokenizer_config.json
  int64_t vocab_size = 0;                   // == the requested size
  int64_t bpe_size = 0;                     // learned tokens (bytes + merges)
  int64_t first_reserved_id = 0;            // == vocab_size when none are needed
  int64_t bos_token_id = 0;                 // <|begin_of_text|>
  int64_t eos_token_id = 0;                 // <|eot_id|>
};

// Exactly VOCAB_SIZE tokens: BPE tokens learned from the corpus (up to VOCAB_SIZE minus
// the five special tokens), the special tokens, then <|reserved_special_token_N|> for
// whatever the corpus could not fill, as Llama-3 pads its vocabulary. VOCAB_SIZE must be
// at least 261 (the 256 byte tokens and the five special ones).
TokenizerFiles build_tokenizer_files(int64_t vocab_size, int64_t model_max_length);

}  // namespace waypoint::tools
