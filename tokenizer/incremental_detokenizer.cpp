#include "tokenizer/incremental_detokenizer.hpp"

#include "tokenizer/utf8.hpp"
#include "tokenizer/utf8_lossy.hpp"

namespace waypoint {

IncrementalDetokenizer::IncrementalDetokenizer(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(&tokenizer), skip_special_tokens_(skip_special_tokens) {}

std::string IncrementalDetokenizer::push(int32_t id) {
  // Skipped ids are dropped here just as decode() drops them, so they do not
  // act as context either.
  if (skip_special_tokens_ && tokenizer_->is_special(id)) return {};
  window_.push_back(id);
  const std::string bytes = tokenizer_->decode_bytes(window_, skip_special_tokens_);
  const size_t complete = utf8_complete_prefix_len(bytes);
  std::string out;
  if (complete > emitted_) {
    // Chunks end at character boundaries, so sanitizing each alone gives the
    // same text as sanitizing the whole stream.
    out = to_valid_utf8(std::string_view(bytes).substr(emitted_, complete - emitted_));
    emitted_ = complete;
  }
  if (complete == bytes.size() && window_.size() > 1) {
    // Nothing held back: restart the window at the last id, which is enough
    // context for the next one.
    window_.erase(window_.begin(), window_.end() - 1);
    emitted_ = tokenizer_->decode_bytes(window_, skip_special_tokens_).size();
  }
  return out;
}

std::string IncrementalDetokenizer::finish() {
  const std::string bytes = tokenizer_->decode_bytes(window_, skip_special_tokens_);
  std::string out;
  if (bytes.size() > emitted_) out = to_valid_utf8(std::string_view(bytes).substr(emitted_));
  window_.clear();
  emitted_ = 0;
  return out;
}

}  // namespace waypoint
