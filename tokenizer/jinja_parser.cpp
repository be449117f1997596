#include "tokenizer/jinja_parser.hpp"

#include <utility>

namespace waypoint::jinja {

Body Parser::parse_template() {
  std::string end;
  Body b = parse_body({}, end, 0);
  return b;
}

bool Parser::at_name_after(std::string_view n) const {
  return i_ + 1 < t_.size() && t_[i_ + 1].kind == TokenKind::kName && t_[i_ + 1].text == n;
}

std::string Parser::describe(const Token& t) const {
  switch (t.kind) {
    case TokenKind::kVarClose:
      return "'}}'";
    case TokenKind::kBlockClose:
      return "'%}'";
    case TokenKind::kEnd:
      return "end of template";
    case TokenKind::kString:
      return "string";
    case TokenKind::kText:
      return "text";
    default:
      return "'" + t.text + "'";
  }
}

void Parser::expect_op(std::string_view op) {
  if (!at_op(op)) error("expected '" + std::string(op) + "', got " + describe(cur()));
  ++i_;
}

std::string Parser::expect_name() {
  if (cur().kind != TokenKind::kName) error("expected a name, got " + describe(cur()));
  return next().text;
}

void Parser::expect_block_close() {
  if (cur().kind != TokenKind::kBlockClose) error("expected '%}', got " + describe(cur()));
  ++i_;
}

Body Parser::parse_body(std::initializer_list<std::string_view> ends, std::string& end,
                        size_t opener) {
  Body body;
  while (true) {
    const Token& t = cur();
    if (t.kind == TokenKind::kEnd) {
      if (ends.size() != 0) {
        throw SyntaxError{"unexpected end of template: expected '" + std::string(*ends.begin()) +
                              "' to close the tag here",
                          opener};
      }
      return body;
    }
    if (t.kind == TokenKind::kText) {
      auto n = node(NodeKind::kText, t.offset);
      n->text = t.text;
      body.push_back(std::move(n));
      ++i_;
    } else if (t.kind == TokenKind::kVarOpen) {
      ++i_;
      auto n = node(NodeKind::kOutput, t.offset);
      n->expr = parse_expression();
      if (cur().kind != TokenKind::kVarClose) error("expected '}}', got " + describe(cur()));
      ++i_;
      body.push_back(std::move(n));
    } else if (t.kind == TokenKind::kBlockOpen) {
      const Token& name = t_[i_ + 1];
      if (name.kind != TokenKind::kName) throw SyntaxError{"expected a tag name", name.offset};
      for (std::string_view e : ends) {
        if (name.text == e) {
          i_ += 2;
          end = name.text;
          return body;
        }
      }
      i_ += 2;
      body.push_back(parse_statement(name.text, t.offset));
    } else {
      error("unexpected " + describe(t));
    }
  }
}

std::unique_ptr<Node> Parser::node(NodeKind kind, size_t offset) {
  auto n = std::make_unique<Node>();
  n->kind = kind;
  n->offset = offset;
  return n;
}

std::unique_ptr<Node> Parser::parse_statement(const std::string& tag, size_t at) {
  std::string end;
  if (tag == "if") {
    auto n = node(NodeKind::kIf, at);
    ExprPtr cond = parse_expression();
    expect_block_close();
    while (true) {
      Body b = parse_body({"elif", "else", "endif"}, end, at);
      n->branches.emplace_back(std::move(cond), std::move(b));
      if (end != "elif") break;
      cond = parse_expression();
      expect_block_close();
    }
    if (end == "else") {
      expect_block_close();
      n->else_body = parse_body({"endif"}, end, at);
    }
    expect_block_close();
    return n;
  }
  if (tag == "for") {
    auto n = node(NodeKind::kFor, at);
    n->targets.push_back(expect_name());
    while (at_op(",")) {
      ++i_;
      n->targets.push_back(expect_name());
    }
    if (!at_name("in")) error("expected 'in' in for loop, got " + describe(cur()));
    ++i_;
    n->expr = parse_expression(/*with_cond=*/false);
    if (at_name("if")) {
      ++i_;
      n->filter = parse_expression();
    }
    if (at_name("recursive")) error("recursive loops are not supported");
    expect_block_close();
    ++loop_depth_;
    n->body = parse_body({"else", "endfor"}, end, at);
    --loop_depth_;
    if (end == "else") {
      expect_block_close();
      n->else_body = parse_body({"endfor"}, end, at);
    }
    expect_block_close();
    return n;
  }
  if (tag == "set") {
    std::string first = expect_name();
    auto n = node(NodeKind::kSet, at);
    n->targets.push_back(first);
    if (at_op(".")) {
      ++i_;
      n->attr = expect_name();
    } else {
      while (at_op(",")) {
        ++i_;
        n->targets.push_back(expect_name());
      }
    }
    if (at_op("=")) {
      ++i_;
      n->expr = parse_expression();
      expect_block_close();
      return n;
    }
    if (!n->attr.empty() || n->targets.size() != 1) error("expected '='");
    expect_block_close();
    n->kind = NodeKind::kSetBlock;
    n->body = parse_body({"endset"}, end, at);
    expect_block_close();
    return n;
  }
  if (tag == "macro") {
    auto n = node(NodeKind::kMacro, at);
    n->targets.push_back(expect_name());
    expect_op("(");
    while (!at_op(")")) {
      std::string p = expect_name();
      ExprPtr def;
      if (at_op("=")) {
        ++i_;
        def = parse_expression();
      }
      n->params.emplace_back(std::move(p), std::move(def));
      if (!at_op(")")) expect_op(",");
    }
    ++i_;
    expect_block_close();
    const int saved = loop_depth_;
    loop_depth_ = 0;
    n->body = parse_body({"endmacro"}, end, at);
    loop_depth_ = saved;
    expect_block_close();
    return n;
  }
  if (tag == "break" || tag == "continue") {
    if (loop_depth_ == 0) throw SyntaxError{"'" + tag + "' outside of a loop", at};
    expect_block_close();
    return node(tag == "break" ? NodeKind::kBreak : NodeKind::kContinue, at);
  }
  if (tag == "generation") {
    // transformers' marker for assistant-token masks; it renders its body.
    auto n = node(NodeKind::kBlock, at);
    expect_block_close();
    n->body = parse_body({"endgeneration"}, end, at);
    expect_block_close();
    return n;
  }
  static constexpr std::string_view kEnds[] = {"endif", "endfor", "endset",       "endmacro",
                                               "elif",  "else",   "endgeneration"};
  for (std::string_view e : kEnds)
    if (tag == e) throw SyntaxError{"unexpected '" + tag + "'", at};
  throw SyntaxError{"unknown tag '" + tag + "'", at};
}

ExprPtr Parser::make(ExprKind kind, size_t offset) {
  auto e = std::make_unique<Expr>();
  e->kind = kind;
  e->offset = offset;
  return e;
}

ExprPtr Parser::binary(ExprKind kind, std::string op, ExprPtr a, ExprPtr b, size_t offset) {
  auto e = make(kind, offset);
  e->name = std::move(op);
  e->args.push_back(std::move(a));
  e->args.push_back(std::move(b));
  return e;
}

ExprPtr Parser::parse_expression(bool with_cond) {
  if (!with_cond) return parse_or();
  ExprPtr e = parse_or();
  while (at_name("if")) {
    const size_t at = next().offset;
    auto c = make(ExprKind::kCond, at);
    c->args.push_back(std::move(e));
    c->args.push_back(parse_or());
    if (at_name("else")) {
      ++i_;
      c->args.push_back(parse_expression());
    } else {
      c->args.push_back(nullptr);
    }
    e = std::move(c);
  }
  return e;
}

ExprPtr Parser::parse_or() {
  ExprPtr e = parse_and();
  while (at_name("or")) {
    const size_t at = next().offset;
    e = binary(ExprKind::kOr, "or", std::move(e), parse_and(), at);
  }
  return e;
}

ExprPtr Parser::parse_and() {
  ExprPtr e = parse_not();
  while (at_name("and")) {
    const size_t at = next().offset;
    e = binary(ExprKind::kAnd, "and", std::move(e), parse_not(), at);
  }
  return e;
}

ExprPtr Parser::parse_not() {
  if (at_name("not")) {
    const size_t at = next().offset;
    auto e = make(ExprKind::kNot, at);
    e->args.push_back(parse_not());
    return e;
  }
  return parse_compare();
}

ExprPtr Parser::parse_compare() {
  const size_t at = cur().offset;
  ExprPtr first = parse_math1();
  std::vector<std::string> ops;
  std::vector<ExprPtr> operands;
  while (true) {
    std::string op;
    if (cur().kind == TokenKind::kOp &&
        (cur().text == "==" || cur().text == "!=" || cur().text == "<" || cur().text == ">" ||
         cur().text == "<=" || cur().text == ">=")) {
      op = next().text;
    } else if (at_name("in")) {
      ++i_;
      op = "in";
    } else if (at_name("not") && at_name_after("in")) {
      i_ += 2;
      op = "not in";
    } else {
      break;
    }
    ops.push_back(op);
    operands.push_back(parse_math1());
  }
  if (ops.empty()) return first;
  auto e = make(ExprKind::kCompare, at);
  e->args.push_back(std::move(first));
  for (auto& o : operands) e->args.push_back(std::move(o));
  e->ops = std::move(ops);
  return e;
}

ExprPtr Parser::parse_math1() {
  ExprPtr e = parse_concat();
  while (at_op("+") || at_op("-")) {
    const Token& t = next();
    e = binary(ExprKind::kBinary, t.text, std::move(e), parse_concat(), t.offset);
  }
  return e;
}

ExprPtr Parser::parse_concat() {
  ExprPtr e = parse_math2();
  while (at_op("~")) {
    const size_t at = next().offset;
    e = binary(ExprKind::kBinary, "~", std::move(e), parse_math2(), at);
  }
  return e;
}

ExprPtr Parser::parse_math2() {
  ExprPtr e = parse_pow();
  while (at_op("*") || at_op("/") || at_op("//") || at_op("%")) {
    const Token& t = next();
    e = binary(ExprKind::kBinary, t.text, std::move(e), parse_pow(), t.offset);
  }
  return e;
}

ExprPtr Parser::parse_pow() {
  ExprPtr e = parse_unary(true);
  while (at_op("**")) {
    const size_t at = next().offset;
    e = binary(ExprKind::kBinary, "**", std::move(e), parse_unary(true), at);
  }
  return e;
}

ExprPtr Parser::parse_unary(bool with_filter) {
  ExprPtr e;
  if (at_op("-") || at_op("+")) {
    const Token& t = next();
    e = make(t.text == "-" ? ExprKind::kNeg : ExprKind::kPos, t.offset);
    e->args.push_back(parse_unary(false));
  } else {
    e = parse_primary();
  }
  e = parse_postfix(std::move(e));
  if (with_filter) e = parse_filter_expr(std::move(e));
  return e;
}

ExprPtr Parser::parse_primary() {
  const Token& t = cur();
  switch (t.kind) {
    case TokenKind::kName: {
      ++i_;
      auto e = make(ExprKind::kLiteral, t.offset);
      if (t.text == "true" || t.text == "True") {
        e->literal = Value(true);
      } else if (t.text == "false" || t.text == "False") {
        e->literal = Value(false);
      } else if (t.text == "none" || t.text == "None") {
        e->literal = Value(None{});
      } else {
        e->kind = ExprKind::kName;
        e->name = t.text;
      }
      return e;
    }
    case TokenKind::kString: {
      std::string s;
      while (cur().kind == TokenKind::kString) s += next().text;  // adjacent literals join
      auto e = make(ExprKind::kLiteral, t.offset);
      e->literal = Value(std::move(s));
      return e;
    }
    case TokenKind::kInt:
    case TokenKind::kFloat: {
      ++i_;
      auto e = make(ExprKind::kLiteral, t.offset);
      e->literal = t.kind == TokenKind::kInt ? Value(t.i) : Value(t.f);
      return e;
    }
    case TokenKind::kOp:
      if (t.text == "(") {
        ++i_;
        if (at_op(")")) {
          ++i_;
          return make(ExprKind::kList, t.offset);  // () is an empty tuple
        }
        ExprPtr e = parse_expression();
        if (at_op(",")) {  // a tuple: a list here, since both only get read
          auto l = make(ExprKind::kList, t.offset);
          l->args.push_back(std::move(e));
          while (at_op(",")) {
            ++i_;
            if (at_op(")")) break;
            l->args.push_back(parse_expression());
          }
          e = std::move(l);
        }
        expect_op(")");
        return e;
      }
      if (t.text == "[") {
        ++i_;
        auto l = make(ExprKind::kList, t.offset);
        while (!at_op("]")) {
          l->args.push_back(parse_expression());
          if (!at_op("]")) expect_op(",");
        }
        ++i_;
        return l;
      }
      if (t.text == "{") {
        ++i_;
        auto d = make(ExprKind::kDict, t.offset);
        while (!at_op("}")) {
          d->args.push_back(parse_expression());
          expect_op(":");
          d->args.push_back(parse_expression());
          if (!at_op("}")) expect_op(",");
        }
        ++i_;
        return d;
      }
      break;
    default:
      break;
  }
  error("unexpected " + describe(t));
}

ExprPtr Parser::parse_postfix(ExprPtr e) {
  while (true) {
    if (at_op(".")) {
      const size_t at = next().offset;
      if (cur().kind == TokenKind::kInt) {  // x.0 is x[0] in Jinja
        auto ix = make(ExprKind::kIndex, at);
        ix->args.push_back(std::move(e));
        auto lit = make(ExprKind::kLiteral, cur().offset);
        lit->literal = Value(next().i);
        ix->args.push_back(std::move(lit));
        e = std::move(ix);
        continue;
      }
      auto a = make(ExprKind::kAttr, at);
      a->name = expect_name();
      a->args.push_back(std::move(e));
      e = std::move(a);
    } else if (at_op("[")) {
      e = parse_subscript(std::move(e));
    } else if (at_op("(")) {
      e = parse_call(std::move(e));
    } else {
      return e;
    }
  }
}

ExprPtr Parser::parse_subscript(ExprPtr obj) {
  const size_t at = next().offset;  // '['
  ExprPtr start, stop, step;
  if (!at_op(":")) start = parse_expression();
  if (at_op("]")) {
    ++i_;
    if (!start) error("empty subscript");
    auto ix = make(ExprKind::kIndex, at);
    ix->args.push_back(std::move(obj));
    ix->args.push_back(std::move(start));
    return ix;
  }
  expect_op(":");
  if (!at_op(":") && !at_op("]")) stop = parse_expression();
  if (at_op(":")) {
    ++i_;
    if (!at_op("]")) step = parse_expression();
  }
  expect_op("]");
  auto sl = make(ExprKind::kSlice, at);
  sl->args.push_back(std::move(obj));
  sl->args.push_back(std::move(start));
  sl->args.push_back(std::move(stop));
  sl->args.push_back(std::move(step));
  return sl;
}

void Parser::parse_args(Expr& e) {
  expect_op("(");
  while (!at_op(")")) {
    if (cur().kind == TokenKind::kName && i_ + 1 < t_.size() && t_[i_ + 1].kind == TokenKind::kOp &&
        t_[i_ + 1].text == "=") {
      std::string key = next().text;
      ++i_;
      e.kwargs.emplace_back(std::move(key), parse_expression());
    } else {
      if (!e.kwargs.empty()) error("positional argument follows keyword argument");
      e.args.push_back(parse_expression());
    }
    if (!at_op(")")) expect_op(",");
  }
  ++i_;
}

ExprPtr Parser::parse_call(ExprPtr callee) {
  auto c = make(ExprKind::kCall, callee->offset);  // errors point at what was called
  c->args.push_back(std::move(callee));
  parse_args(*c);
  return c;
}

ExprPtr Parser::parse_filter_expr(ExprPtr e) {
  while (true) {
    if (at_op("|")) {
      ++i_;
      auto f = make(ExprKind::kFilter, cur().offset);
      f->name = expect_name();
      f->args.push_back(std::move(e));
      if (at_op("(")) parse_args(*f);
      e = std::move(f);
    } else if (at_name("is")) {
      ++i_;
      auto t = make(ExprKind::kTest, cur().offset);
      if (at_name("not")) {
        ++i_;
        t->negated = true;
      }
      t->name = expect_name();
      t->args.push_back(std::move(e));
      if (at_op("(")) {
        parse_args(*t);
      } else if ((cur().kind == TokenKind::kName && !at_name("else") && !at_name("or") &&
                  !at_name("and") && !at_name("if") && !at_name("is") && !at_name("in") &&
                  !at_name("not")) ||
                 cur().kind == TokenKind::kString || cur().kind == TokenKind::kInt ||
                 cur().kind == TokenKind::kFloat || at_op("[") || at_op("{")) {
        // `x is divisibleby 3`, `x is sameas false`: one argument, no parentheses.
        t->args.push_back(parse_postfix(parse_primary()));
      }
      e = std::move(t);
    } else if (at_op("(")) {
      e = parse_call(std::move(e));
    } else {
      return e;
    }
  }
}

}  // namespace waypoint::jinja
