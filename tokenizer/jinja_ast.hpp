#pragma once
// The syntax tree a parsed chat template is made of.
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/chat_template.hpp"
#include "tokenizer/jinja_value.hpp"

namespace waypoint::jinja {

// ---------------------------------------------------------------------------
// Syntax tree.
// ---------------------------------------------------------------------------

enum class ExprKind {
  kLiteral,
  kName,
  kAttr,
  kIndex,
  kSlice,
  kCall,
  kFilter,
  kTest,
  kNeg,
  kPos,
  kNot,
  kBinary,
  kCompare,
  kAnd,
  kOr,
  kCond,
  kList,
  kDict
};

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  ExprKind kind;
  size_t offset;
  Value literal;              // kLiteral
  std::string name;           // name, attribute, filter, test or operator
  std::vector<ExprPtr> args;  // operands; see parse_* for each kind's layout
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;  // kCompare: one per pair of operands
  bool negated = false;          // kTest: `is not`
};

enum class NodeKind {
  kText,
  kOutput,
  kIf,
  kFor,
  kSet,
  kSetBlock,
  kMacro,
  kBreak,
  kContinue,
  kBlock
};

struct Node;
using Body = std::vector<std::unique_ptr<Node>>;

struct Node {
  NodeKind kind;
  size_t offset;
  std::string text;                                // kText
  ExprPtr expr;                                    // output, set value, for iterable
  std::vector<std::pair<ExprPtr, Body>> branches;  // kIf: (condition, body)
  Body body;                                       // for/set-block/macro/block body
  Body else_body;                                  // if/for else
  std::vector<std::string> targets;  // for variables, set names; macro name in targets[0]
  std::string attr;                  // set ns.attr
  ExprPtr filter;                    // for ... if filter
  std::vector<std::pair<std::string, ExprPtr>> params;  // macro parameters, default may be null
};

}  // namespace waypoint::jinja

namespace waypoint {

struct ChatTemplate::Program {
  std::string source;  // newline-normalized, for line/column of errors
  jinja::Body root;

  std::string where(size_t offset) const {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < offset && i < source.size(); ++i) {
      if (source[i] == '\n') {
        ++line;
        col = 1;
      } else if ((static_cast<unsigned char>(source[i]) & 0xC0) != 0x80) {
        ++col;  // columns count characters, not bytes
      }
    }
    return "line " + std::to_string(line) + ", column " + std::to_string(col);
  }
};

}  // namespace waypoint
