#pragma once
// Streaming detokenization: token ids arrive one at a time from the engine and
// each SSE chunk must carry only new text, never half a UTF-8 character (a
// byte-level token is often a fragment of one, e.g. 1 of the 4 bytes of 😀).
#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.hpp"

namespace waypoint {

// The concatenation of everything push() and finish() return equals
// tokenizer.decode(all ids, skip_special_tokens). In particular, for
// SentencePiece tokenizers the leading space of the very first token is
// stripped, as HF's decoder does.
//
// Each push re-decodes only a short window of recent ids, so a long stream
// costs O(1) per token, not O(length).
class IncrementalDetokenizer {
 public:
  // tokenizer must outlive this object.
  IncrementalDetokenizer(const Tokenizer& tokenizer, bool skip_special_tokens);

  // Text completed by this token; empty while a character is still incomplete.
  std::string push(int32_t id);

  // Whatever is still held back, with an incomplete character as U+FFFD. Call
  // once when the request finishes.
  std::string finish();

 private:
  const Tokenizer* tokenizer_;
  bool skip_special_tokens_;
  // Ids whose decoding is not yet fully emitted, after one id of context: the
  // decoders' behaviour at the start of text (SentencePiece's space strip) is
  // then the same whether decoding the window or the whole stream.
  std::vector<int32_t> window_;
  size_t emitted_ = 0;  // bytes of decode_bytes(window_) already returned
};

}  // namespace waypoint
