#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tokenizer/jinja_ast.hpp"
#include "tokenizer/jinja_value.hpp"

namespace waypoint::jinja {

// ---------------------------------------------------------------------------
// Interpreter.
// ---------------------------------------------------------------------------

struct Args {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;

  // The argument at position i (after the operand) or with keyword `name`.
  const Value* get(size_t i, std::string_view name) const {
    if (i < pos.size()) return &pos[i];
    for (const auto& [k, v] : kw)
      if (k == name) return &v;
    return nullptr;
  }
  std::string get_str(size_t i, std::string_view name, std::string def) const {
    const Value* v = get(i, name);
    if (!v || v->is<Undefined>() || v->is<None>()) return def;
    return str(*v);
  }
  bool get_bool(size_t i, std::string_view name, bool def) const {
    const Value* v = get(i, name);
    return v ? truthy(*v) : def;
  }
  int64_t get_int(size_t i, std::string_view name, int64_t def) const {
    const Value* v = get(i, name);
    if (!v || v->is<None>()) return def;
    if (!is_integral(*v))
      fail(std::string("argument '") + std::string(name) + "' must be an integer");
    return as_int(*v);
  }
};

class Interpreter {
 public:
  Interpreter(const ChatTemplate::Program& program, const Dict& context);

  std::string run();

 private:
  enum class Flow { kNormal, kBreak, kContinue };
  using Scope = std::unordered_map<std::string, Value>;

  // Pushes a scope for a loop or macro call and pops it however the block ends.
  class ScopeGuard {
   public:
    explicit ScopeGuard(Interpreter& in) : in_(in) { in_.scopes_.emplace_back(); }
    ~ScopeGuard() { in_.scopes_.pop_back(); }
    ScopeGuard(const ScopeGuard&) = delete;
    ScopeGuard& operator=(const ScopeGuard&) = delete;

   private:
    Interpreter& in_;
  };

  Value lookup(const std::string& name) const;
  void assign(const std::string& name, Value v) { scopes_.back()[name] = std::move(v); }

  Flow exec(const Body& body, std::string& out);

  Flow exec_node(const Node& n, std::string& out);

  Flow exec_node_unchecked(const Node& n, std::string& out);

  void unpack(const std::vector<std::string>& targets, const Value& v);

  void exec_for(const Node& n, std::string& out);

  void bind_targets(const Node& n, const Value& item);

  Value eval(const Expr& e);

  Args eval_args(const Expr& e, size_t first);

  Value eval_unchecked(const Expr& e);

  Value binary(const std::string& op, const Value& a, const Value& b);

  Value get_attr(const Value& obj, const std::string& name);

  Value get_item(const Value& obj, const Value& key);

  // ---- calls: macros, global functions, methods ----

  Value call(const Expr& e);

  Value call_macro(const Node& m, const Args& args);

  Value call_global(const std::string& name, const Args& a);

  Value call_method(const Value& obj, const std::string& name, const Args& a);

  static Value dict_items(const Dict& d);

  static List split(const std::string& s, const Args& a);

  // ---- filters ----

  // `a.b.c` against dict keys (and list indices), as jinja2's attribute= arguments.
  Value attr_path(const Value& v, const std::string& path);

  Value apply_filter(const std::string& name, const Value& v, const Args& a);

  bool apply_test(const std::string& name, const Value& v, const Args& a);
  friend struct Filters;  // the filter table (jinja_filters.cpp)

  const ChatTemplate::Program& program_;
  std::vector<Scope> scopes_;
  size_t floor_ = 0;  // lowest scope visible besides the globals (raised inside macros)
};

}  // namespace waypoint::jinja
