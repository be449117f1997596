#include "tokenizer/chat_template.hpp"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/jinja_ast.hpp"
#include "tokenizer/jinja_interpreter.hpp"
#include "tokenizer/jinja_lexer.hpp"
#include "tokenizer/jinja_parser.hpp"
#include "tokenizer/jinja_value.hpp"

namespace waypoint {
namespace {

using jinja::DictPtr;
using jinja::from_json;
using jinja::Interpreter;
using jinja::Lexer;
using jinja::Parser;
using jinja::RenderError;
using jinja::SyntaxError;
using jinja::Token;
using jinja::Value;

// Jinja normalizes newlines to \n and, without keep_trailing_newline, drops a
// single trailing newline from the template.
std::string normalize_source(std::string_view src) {
  std::string s;
  s.reserve(src.size());
  for (size_t i = 0; i < src.size(); ++i) {
    if (src[i] == '\r') {
      s += '\n';
      if (i + 1 < src.size() && src[i + 1] == '\n') ++i;
    } else {
      s += src[i];
    }
  }
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

template <class Json>
Result<std::string> render_with(const ChatTemplate::Program& program, const Json& context) {
  if (!context.is_object()) return Error{"chat template: the context must be a JSON object"};
  const Value ctx = from_json(context);
  try {
    Interpreter in(program, *ctx.as<DictPtr>());
    return in.run();
  } catch (const RenderError& e) {
    if (e.raised) return Error{e.message};
    return Error{"chat template: " + (e.offset ? program.where(*e.offset) + ": " : std::string()) +
                 e.message};
  }
}

}  // namespace

ChatTemplate::ChatTemplate(std::shared_ptr<const Program> program) : program_(std::move(program)) {}

Result<ChatTemplate> ChatTemplate::parse(std::string_view source) {
  auto program = std::make_shared<Program>();
  program->source = normalize_source(source);
  try {
    const std::vector<Token> tokens = Lexer(program->source).run();
    program->root = Parser(tokens).parse_template();
  } catch (const SyntaxError& e) {
    return Error{"chat template: " + program->where(e.offset) + ": " + e.message};
  }
  return ChatTemplate(std::move(program));
}

Result<std::string> ChatTemplate::render(const nlohmann::json& context) const {
  return render_with(*program_, context);
}

Result<std::string> ChatTemplate::render(const nlohmann::ordered_json& context) const {
  return render_with(*program_, context);
}

}  // namespace waypoint
