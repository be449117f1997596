#pragma once
// A Hugging Face tokenizer loaded from tokenizer.json: BPE models with
// byte-level (GPT-2, Llama-3, Qwen2/3) or SentencePiece-style (Llama-2,
// Mistral) pipelines, added/special tokens and the BOS of the post-processor.
// Its ids match HF `tokenizers` for those families.
//
// Invalid UTF-8 given to encode() is not an error: each maximal ill-formed
// subpart is replaced by U+FFFD first (see to_valid_utf8), which is what a
// Python client would have had to do to get a str at all.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace waypoint {

class Tokenizer {
 public:
  // Errors are one line naming the file and the problem, e.g.
  // "/m/tokenizer.json: unsupported model type \"Unigram\"".
  static Result<Tokenizer> load(const std::filesystem::path& tokenizer_json);
  // The same from the file's contents; `name` only labels errors.
  static Result<Tokenizer> from_json_text(std::string_view json, std::string_view name);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Added tokens written in the text (e.g. "<|im_start|>") always become their
  // ids; add_special_tokens adds what the post-processor's single template puts
  // around the text (Llama's BOS), as HF's encode(..., add_special_tokens) does.
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens) const;

  // Valid UTF-8 always: bytes that do not form characters become U+FFFD.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens) const;

  // Like decode but raw, possibly ending inside a character: what the
  // incremental detokenizer diffs. Unknown ids are skipped.
  std::string decode_bytes(std::span<const int32_t> ids, bool skip_special_tokens) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  // The token's string in the vocabulary's alphabet (e.g. "Ġthe", "▁the").
  std::optional<std::string> id_to_token(int32_t id) const;
  bool is_special(int32_t id) const;
  // One past the largest id, added tokens included (HF's len(tokenizer)).
  int32_t vocab_size() const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace waypoint
