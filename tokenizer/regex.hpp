#pragma once
// A compiled PCRE2 pattern, for the Split pre-tokenizer's regexes. The patterns
// in tokenizer.json are written for Rust's regex crate / Oniguruma and use
// \p{L}, \p{N} and lookahead, which std::regex cannot do; PCRE2 with UTF+UCP
// matches their Unicode semantics, and its JIT keeps pre-tokenization cheap.
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.hpp"

namespace waypoint {

class Regex {
 public:
  // A literal pattern matches the text exactly (no metacharacters).
  static Result<Regex> compile(std::string_view pattern, bool literal);

  // [begin, end) byte offsets of the successive non-overlapping matches, left to
  // right. text must be valid UTF-8 (not re-checked, for speed). An empty match
  // is skipped past one code point so the scan always progresses.
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;

 private:
  struct CodeDeleter {
    void operator()(void* code) const;
  };
  explicit Regex(void* code) : code_(code) {}

  std::unique_ptr<void, CodeDeleter> code_;  // pcre2_code_8, immutable once compiled
};

}  // namespace waypoint
