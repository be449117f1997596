#pragma once
// Renders a Hugging Face chat template (tokenizer_config.json's "chat_template")
// into the prompt text, with the subset of Jinja that real templates use.
//
// It behaves like transformers' apply_chat_template, which renders with
// jinja2's ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
// plus the loopcontrols extension, its own tojson (no HTML escaping, Python
// json.dumps spacing), raise_exception() and strftime_now(). Values follow
// Python: None prints as "None", True as "True", 1.0 as "1.0"; an undefined
// variable prints as "" and is falsy, but using it (attribute, +, call) is an
// error, as with jinja2's default Undefined.
//
// Supported: {{ }}, {% %}, {# #}, -/+ whitespace control, if/elif/else,
// for (else, `if` filter, tuple unpacking, loop.*, break/continue), set (incl.
// namespace attributes and {% set x %}...{% endset %}), macro, generation;
// literals, attribute/subscript/slice access, arithmetic, ~, comparisons,
// and/or/not, in, `is` tests, `a if b else c`, common filters and the string
// and dict methods templates call. See chat_template.cpp for the exact lists.
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "base/result.hpp"

namespace waypoint {

class ChatTemplate {
 public:
  // A syntax error comes back as "chat template: line L, column C: ...".
  static Result<ChatTemplate> parse(std::string_view source);

  // `context` is a JSON object: messages, add_generation_prompt, bos_token,
  // eos_token, tools, ... (whatever the template reads). A render error (an
  // unknown filter, a type error, an undefined value used) names its line and
  // column; raise_exception("msg") in the template gives exactly "msg".
  //
  // nlohmann::json keeps object keys sorted, so `tools | tojson` prints them
  // sorted; pass an ordered_json to keep the client's key order as Python does.
  Result<std::string> render(const nlohmann::json& context) const;
  Result<std::string> render(const nlohmann::ordered_json& context) const;

  struct Program;  // the parsed template, immutable once built

 private:
  explicit ChatTemplate(std::shared_ptr<const Program> program);
  // Shared because it never changes after parse: copies are cheap and
  // render() may run on many threads at once.
  std::shared_ptr<const Program> program_;
};

}  // namespace waypoint
