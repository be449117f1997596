#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace waypoint::jinja {

// ---------------------------------------------------------------------------
// Lexer. Whitespace control is applied here, as jinja2's lexer does:
// `-` strips all whitespace on that side, lstrip_blocks removes the spaces
// before a block or comment tag that starts a line, trim_blocks removes the
// newline right after one, and `+` turns either off for that tag.
// ---------------------------------------------------------------------------

enum class TokenKind {
  kText,
  kVarOpen,
  kVarClose,
  kBlockOpen,
  kBlockClose,
  kName,
  kString,
  kInt,
  kFloat,
  kOp,
  kEnd
};

struct Token {
  TokenKind kind;
  std::string text;  // text, name, decoded string literal or operator
  size_t offset;
  int64_t i = 0;
  double f = 0;
};

class Lexer {
 public:
  explicit Lexer(const std::string& src) : s_(src) {}

  std::vector<Token> run();

 private:
  size_t find_tag(size_t from) const;

  // Lexes the inside of {{ }} or {% %} starting at p; returns the offset after
  // the closing delimiter and sets close_mod to '-', '+' or '\0'.
  size_t lex_tag(size_t p, bool is_var, size_t open_at, char& close_mod);

  // Python string literal escapes (jinja2 decodes them with "unicode-escape").
  size_t lex_string(size_t p);

  size_t lex_number(size_t p);

  const std::string& s_;
  std::vector<Token> out_;
};

}  // namespace waypoint::jinja
