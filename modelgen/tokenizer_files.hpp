#pragma once
// The tokenizer files of a `waypoint make-model` directory: tokenizer.json (a Llama-3
// style byte-level BPE trained on a built-in English corpus) and tokenizer_config.json
// (BOS/EOS and Llama-3's chat template), both in Hugging Face's format.
#include <cstdint>
#include <string_view>
#include <vector>

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

// Where the special tokens sit in the vocabulary.
enum class SpecialTokens {
  // The five above right after the BPE tokens learned from the corpus, then
  // <|reserved_special_token_N|> for whatever the corpus could not fill (tiny, small).
  kAfterLearned,
  // Llama-3.1's and 3.2's 256: <|begin_of_text|> at VOCAB_SIZE - 256, <|eot_id|> 9 after
  // it, and the rest at their places, as in their 128000 BPE tokens + 256. The BPE part
  // fills every id below (see build_tokenizer_files).
  kLlama3,
};

struct IdRange {
  int64_t begin = 0;
  int64_t end = 0;  // past the last
};

struct TokenizerFiles {
  nlohmann::ordered_json tokenizer;         // tokenizer.json
  nlohmann::ordered_json tokenizer_config;  // tokenizer_config.json
  int64_t vocab_size = 0;                   // == the requested size
  int64_t bpe_size = 0;                     // BPE tokens (bytes + merges)
  int64_t learned_size = 0;                 // of which learned from the corpus
  // Ids no text of the corpus trained: reserved special tokens and BPE tokens made up
  // past what the corpus taught (see random_llama_weights).
  std::vector<IdRange> padding;
  int64_t bos_token_id = 0;  // <|begin_of_text|>
  int64_t eos_token_id = 0;  // <|eot_id|>
};

// Exactly VOCAB_SIZE tokens. With kAfterLearned: BPE tokens learned from the corpus (up
// to VOCAB_SIZE minus the five special tokens), the special tokens, then reserved ones
// padding the rest, as Llama-3 pads its vocabulary; VOCAB_SIZE must be at least 261 (the
// 256 byte tokens and the five special ones). With kLlama3: VOCAB_SIZE - 256 BPE tokens,
// then Llama-3's 256 special tokens; VOCAB_SIZE must be at least 512. The corpus teaches
// a few thousand merges at most, where Llama-3 has 127744: the rest are made up (each
// joins a token to a byte, in id order), so that every id below the special tokens is
// an ordinary BPE token, as in the real vocabulary, and only 256 tokens are added ones.
TokenizerFiles build_tokenizer_files(int64_t vocab_size, int64_t model_max_length,
                                     SpecialTokens layout = SpecialTokens::kAfterLearned);

}  // namespace waypoint::tools
