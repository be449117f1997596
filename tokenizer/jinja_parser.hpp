#pragma once
#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/jinja_ast.hpp"
#include "tokenizer/jinja_lexer.hpp"

namespace waypoint::jinja {

// ---------------------------------------------------------------------------
// Parser: recursive descent with jinja2's precedence, lowest first:
// `x if c else y`, or, and, not, comparisons/in, + -, ~, * / // %, **,
// unary - +, then primary with .attr [index] (call), then | filters and `is`
// tests (so `'a' + s | trim` trims s only, as in Jinja).
// ---------------------------------------------------------------------------

class Parser {
 public:
  explicit Parser(const std::vector<Token>& t) : t_(t) {}

  Body parse_template();

 private:
  const Token& cur() const { return t_[i_]; }
  const Token& next() { return t_[i_++]; }
  bool at_op(std::string_view op) const { return cur().kind == TokenKind::kOp && cur().text == op; }
  bool at_name(std::string_view n) const {
    return cur().kind == TokenKind::kName && cur().text == n;
  }
  bool at_name_after(std::string_view n) const;

  [[noreturn]] void error(const std::string& msg) const { throw SyntaxError{msg, cur().offset}; }

  std::string describe(const Token& t) const;
  void expect_op(std::string_view op);
  std::string expect_name();
  void expect_block_close();

  // Statements until one of `ends` opens a block tag; its name is left in
  // `end` and the tokens after the name (e.g. an elif condition) are left to
  // the caller. `opener` is where the enclosing tag began, for the error.
  Body parse_body(std::initializer_list<std::string_view> ends, std::string& end, size_t opener);

  std::unique_ptr<Node> node(NodeKind kind, size_t offset);

  std::unique_ptr<Node> parse_statement(const std::string& tag, size_t at);

  ExprPtr make(ExprKind kind, size_t offset);
  ExprPtr binary(ExprKind kind, std::string op, ExprPtr a, ExprPtr b, size_t offset);

  ExprPtr parse_expression(bool with_cond = true);
  ExprPtr parse_or();
  ExprPtr parse_and();
  ExprPtr parse_not();
  ExprPtr parse_compare();
  ExprPtr parse_math1();
  ExprPtr parse_concat();
  ExprPtr parse_math2();
  ExprPtr parse_pow();
  ExprPtr parse_unary(bool with_filter);

  ExprPtr parse_primary();

  ExprPtr parse_postfix(ExprPtr e);

  ExprPtr parse_subscript(ExprPtr obj);

  // Arguments in parentheses into e->args (after what is already there) and e->kwargs.
  void parse_args(Expr& e);

  ExprPtr parse_call(ExprPtr callee);

  ExprPtr parse_filter_expr(ExprPtr e);

  const std::vector<Token>& t_;
  size_t i_ = 0;
  int loop_depth_ = 0;
};

}  // namespace waypoint::jinja
