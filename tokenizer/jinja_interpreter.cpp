#include "tokenizer/jinja_interpreter.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>

namespace waypoint::jinja {
namespace {

int64_t checked(int64_t a, int64_t b, char op) {
  int64_t r = 0;
  const bool overflow = op == '+'   ? __builtin_add_overflow(a, b, &r)
                        : op == '-' ? __builtin_sub_overflow(a, b, &r)
                                    : __builtin_mul_overflow(a, b, &r);
  if (overflow) fail("integer overflow");
  return r;
}

int64_t floor_div(int64_t a, int64_t b) {
  if (b == 0) fail("integer division or modulo by zero");
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

// Python slice semantics (negative indices, steps, clamping).
std::vector<int64_t> slice_indices(int64_t len, const Value& start, const Value& stop,
                                   const Value& step) {
  auto opt = [](const Value& v) -> std::optional<int64_t> {
    if (v.is<Undefined>() || v.is<None>()) return std::nullopt;
    if (!is_integral(v)) fail("slice indices must be integers or None");
    return as_int(v);
  };
  const int64_t st = opt(step).value_or(1);
  if (st == 0) fail("slice step cannot be zero");
  auto clamp = [&](std::optional<int64_t> x, int64_t def) {
    if (!x) return def;
    int64_t v = *x;
    if (v < 0) v += len;
    if (st > 0) return std::clamp<int64_t>(v, 0, len);
    return std::clamp<int64_t>(v, -1, len - 1);
  };
  const int64_t b = clamp(opt(start), st > 0 ? 0 : len - 1);
  const int64_t e = clamp(opt(stop), st > 0 ? len : -1);
  std::vector<int64_t> idx;
  for (int64_t i = b; st > 0 ? i < e : i > e; i += st) idx.push_back(i);
  return idx;
}

}  // namespace

Interpreter::Interpreter(const ChatTemplate::Program& program, const Dict& context)
    : program_(program) {
  scopes_.emplace_back();
  for (const auto& [k, v] : context.items) scopes_.back()[k] = v;
}

std::string Interpreter::run() {
  std::string out;
  exec(program_.root, out);
  return out;
}

Value Interpreter::lookup(const std::string& name) const {
  // A macro sees its own scopes and the template's globals, not its caller's locals.
  for (size_t i = scopes_.size(); i-- > floor_;) {
    auto it = scopes_[i].find(name);
    if (it != scopes_[i].end()) return it->second;
  }
  if (floor_ > 0) {
    auto it = scopes_[0].find(name);
    if (it != scopes_[0].end()) return it->second;
  }
  return Value(Undefined{"'" + name + "' is undefined"});
}

Interpreter::Flow Interpreter::exec(const Body& body, std::string& out) {
  for (const auto& n : body) {
    const Flow f = exec_node(*n, out);
    if (f != Flow::kNormal) return f;
  }
  return Flow::kNormal;
}

Interpreter::Flow Interpreter::exec_node(const Node& n, std::string& out) {
  try {
    return exec_node_unchecked(n, out);
  } catch (RenderError& e) {
    if (!e.offset) e.offset = n.offset;
    throw;
  }
}

Interpreter::Flow Interpreter::exec_node_unchecked(const Node& n, std::string& out) {
  switch (n.kind) {
    case NodeKind::kText:
      out += n.text;
      return Flow::kNormal;
    case NodeKind::kOutput:
      out += str(eval(*n.expr));
      return Flow::kNormal;
    case NodeKind::kBlock:
      return exec(n.body, out);
    case NodeKind::kBreak:
      return Flow::kBreak;
    case NodeKind::kContinue:
      return Flow::kContinue;
    case NodeKind::kIf:
      for (const auto& [cond, body] : n.branches)
        if (truthy(eval(*cond))) return exec(body, out);
      return exec(n.else_body, out);
    case NodeKind::kSet: {
      Value v = eval(*n.expr);
      if (!n.attr.empty()) {
        const Value ns = lookup(n.targets[0]);
        if (!ns.is<NamespacePtr>())
          fail("cannot assign attribute on non-namespace object '" + n.targets[0] + "'");
        ns.as<NamespacePtr>()->attrs.set(n.attr, std::move(v));
      } else if (n.targets.size() == 1) {
        assign(n.targets[0], std::move(v));
      } else {
        unpack(n.targets, v);
      }
      return Flow::kNormal;
    }
    case NodeKind::kSetBlock: {
      std::string captured;
      exec(n.body, captured);
      assign(n.targets[0], Value(std::move(captured)));
      return Flow::kNormal;
    }
    case NodeKind::kMacro:
      assign(n.targets[0], Value(Value::Variant(Macro{&n})));
      return Flow::kNormal;
    case NodeKind::kFor:
      exec_for(n, out);
      return Flow::kNormal;
  }
  return Flow::kNormal;
}

void Interpreter::unpack(const std::vector<std::string>& targets, const Value& v) {
  const List items = iterate(v);
  if (items.size() != targets.size())
    fail("cannot unpack " + std::to_string(items.size()) + " values into " +
         std::to_string(targets.size()) + " names");
  for (size_t i = 0; i < targets.size(); ++i) assign(targets[i], items[i]);
}

void Interpreter::exec_for(const Node& n, std::string& out) {
  const Value seq = eval(*n.expr);
  if (seq.is<None>() || is_number(seq))
    throw RenderError{std::string("'") + type_name(seq) + "' object is not iterable",
                      n.expr->offset};
  List items = iterate(seq);
  ScopeGuard guard(*this);
  if (n.filter) {  // `for x in xs if cond`: loop.* counts only the kept items
    List kept;
    for (const Value& item : items) {
      bind_targets(n, item);
      if (truthy(eval(*n.filter))) kept.push_back(item);
    }
    items = std::move(kept);
  }
  const auto len = static_cast<int64_t>(items.size());
  for (int64_t i = 0; i < len; ++i) {
    bind_targets(n, items[static_cast<size_t>(i)]);
    Dict loop;
    loop.items = {{"index0", Value(i)},
                  {"index", Value(i + 1)},
                  {"revindex0", Value(len - i - 1)},
                  {"revindex", Value(len - i)},
                  {"first", Value(i == 0)},
                  {"last", Value(i == len - 1)},
                  {"length", Value(len)},
                  {"depth", Value(int64_t{1})},
                  {"depth0", Value(int64_t{0})}};
    if (i > 0) loop.items.emplace_back("previtem", items[static_cast<size_t>(i - 1)]);
    if (i + 1 < len) loop.items.emplace_back("nextitem", items[static_cast<size_t>(i + 1)]);
    assign("loop", make_dict(std::move(loop)));
    if (exec(n.body, out) == Flow::kBreak) break;
  }
  if (items.empty()) exec(n.else_body, out);
}

void Interpreter::bind_targets(const Node& n, const Value& item) {
  if (n.targets.size() == 1) {
    assign(n.targets[0], item);
  } else {
    unpack(n.targets, item);
  }
}

Value Interpreter::eval(const Expr& e) {
  try {
    return eval_unchecked(e);
  } catch (RenderError& err) {
    if (!err.offset) err.offset = e.offset;
    throw;
  }
}

Args Interpreter::eval_args(const Expr& e, size_t first) {
  Args a;
  for (size_t i = first; i < e.args.size(); ++i) a.pos.push_back(eval(*e.args[i]));
  for (const auto& [k, x] : e.kwargs) a.kw.emplace_back(k, eval(*x));
  return a;
}

Value Interpreter::eval_unchecked(const Expr& e) {
  switch (e.kind) {
    case ExprKind::kLiteral:
      return e.literal;
    case ExprKind::kName:
      return lookup(e.name);
    case ExprKind::kList: {
      List l;
      for (const auto& x : e.args) l.push_back(eval(*x));
      return Value(std::move(l));
    }
    case ExprKind::kDict: {
      Dict d;
      for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
        const Value k = eval(*e.args[i]);
        if (!k.is<std::string>()) fail("dict keys must be strings here");
        d.set(k.as<std::string>(), eval(*e.args[i + 1]));
      }
      return make_dict(std::move(d));
    }
    case ExprKind::kAttr:
      return get_attr(eval(*e.args[0]), e.name);
    case ExprKind::kIndex:
      return get_item(eval(*e.args[0]), eval(*e.args[1]));
    case ExprKind::kSlice: {
      const Value obj = eval(*e.args[0]);
      Value none(None{});
      const Value start = e.args[1] ? eval(*e.args[1]) : none;
      const Value stop = e.args[2] ? eval(*e.args[2]) : none;
      const Value step = e.args[3] ? eval(*e.args[3]) : none;
      if (obj.is<Undefined>()) undefined_error(obj);
      if (obj.is<std::string>()) {
        const std::u32string u = decode(obj.as<std::string>());
        std::u32string r;
        for (int64_t i : slice_indices(static_cast<int64_t>(u.size()), start, stop, step))
          r.push_back(u[static_cast<size_t>(i)]);
        return Value(encode(r));
      }
      if (!obj.is<ListPtr>())
        fail(std::string("'") + type_name(obj) + "' object is not subscriptable");
      const List& l = *obj.as<ListPtr>();
      List r;
      for (int64_t i : slice_indices(static_cast<int64_t>(l.size()), start, stop, step))
        r.push_back(l[static_cast<size_t>(i)]);
      return Value(std::move(r));
    }
    case ExprKind::kNeg:
    case ExprKind::kPos: {
      const Value v = eval(*e.args[0]);
      if (v.is<Undefined>()) undefined_error(v);
      if (!is_number(v))
        fail(std::string("bad operand type for unary ") + (e.kind == ExprKind::kNeg ? "-" : "+") +
             ": '" + type_name(v) + "'");
      if (e.kind == ExprKind::kPos) return is_integral(v) ? Value(as_int(v)) : v;
      return is_integral(v) ? Value(checked(0, as_int(v), '-')) : Value(-v.as<double>());
    }
    case ExprKind::kNot:
      return Value(!truthy(eval(*e.args[0])));
    case ExprKind::kAnd: {
      Value a = eval(*e.args[0]);
      return truthy(a) ? eval(*e.args[1]) : a;
    }
    case ExprKind::kOr: {
      Value a = eval(*e.args[0]);
      return truthy(a) ? a : eval(*e.args[1]);
    }
    case ExprKind::kCond: {
      if (truthy(eval(*e.args[1]))) return eval(*e.args[0]);
      if (e.args[2]) return eval(*e.args[2]);
      return Value(Undefined{"the conditional expression had no else branch"});
    }
    case ExprKind::kCompare: {
      Value left = eval(*e.args[0]);
      for (size_t i = 0; i < e.ops.size(); ++i) {
        Value right = eval(*e.args[i + 1]);
        const std::string& op = e.ops[i];
        bool r;
        if (op == "==")
          r = equal(left, right);
        else if (op == "!=")
          r = !equal(left, right);
        else if (op == "in")
          r = contains(right, left);
        else if (op == "not in")
          r = !contains(right, left);
        else {
          if (left.is<Undefined>()) undefined_error(left);
          if (right.is<Undefined>()) undefined_error(right);
          const int c = compare(left, right, op);
          r = op == "<" ? c < 0 : op == ">" ? c > 0 : op == "<=" ? c <= 0 : c >= 0;
        }
        if (!r) return Value(false);
        left = std::move(right);
      }
      return Value(true);
    }
    case ExprKind::kBinary:
      return binary(e.name, eval(*e.args[0]), eval(*e.args[1]));
    case ExprKind::kFilter: {
      const Value operand = eval(*e.args[0]);
      return apply_filter(e.name, operand, eval_args(e, 1));
    }
    case ExprKind::kTest: {
      const Value operand = eval(*e.args[0]);
      const bool r = apply_test(e.name, operand, eval_args(e, 1));
      return Value(e.negated ? !r : r);
    }
    case ExprKind::kCall:
      return call(e);
  }
  fail("unknown expression");
}

Value Interpreter::binary(const std::string& op, const Value& a, const Value& b) {
  if (op == "~") return Value(str(a) + str(b));
  if (a.is<Undefined>()) undefined_error(a);
  if (b.is<Undefined>()) undefined_error(b);
  auto type_error = [&]() -> Value {
    fail("unsupported operand type(s) for " + op + ": '" + type_name(a) + "' and '" + type_name(b) +
         "'");
  };
  if (op == "+") {
    if (a.is<std::string>() && b.is<std::string>())
      return Value(a.as<std::string>() + b.as<std::string>());
    if (a.is<ListPtr>() && b.is<ListPtr>()) {
      List l = *a.as<ListPtr>();
      l.insert(l.end(), b.as<ListPtr>()->begin(), b.as<ListPtr>()->end());
      return Value(std::move(l));
    }
  }
  if (op == "*" &&
      (a.is<std::string>() || a.is<ListPtr>() || b.is<std::string>() || b.is<ListPtr>())) {
    const Value& seq = is_integral(a) ? b : a;
    const Value& count = is_integral(a) ? a : b;
    if (!is_integral(count) || is_integral(seq)) return type_error();
    const int64_t n = std::max<int64_t>(0, as_int(count));
    if (seq.is<std::string>()) {
      std::string r;
      for (int64_t i = 0; i < n; ++i) r += seq.as<std::string>();
      return Value(std::move(r));
    }
    if (!seq.is<ListPtr>()) return type_error();
    List r;
    for (int64_t i = 0; i < n; ++i)
      r.insert(r.end(), seq.as<ListPtr>()->begin(), seq.as<ListPtr>()->end());
    return Value(std::move(r));
  }
  if (!is_number(a) || !is_number(b)) return type_error();
  const bool ints = is_integral(a) && is_integral(b);
  const double x = as_double(a), y = as_double(b);
  if (op == "+") return ints ? Value(checked(as_int(a), as_int(b), '+')) : Value(x + y);
  if (op == "-") return ints ? Value(checked(as_int(a), as_int(b), '-')) : Value(x - y);
  if (op == "*") return ints ? Value(checked(as_int(a), as_int(b), '*')) : Value(x * y);
  if (op == "/") {
    if (y == 0) fail("division by zero");
    return Value(x / y);
  }
  if (op == "//") {
    if (ints) return Value(floor_div(as_int(a), as_int(b)));
    if (y == 0) fail("float floor division by zero");
    return Value(std::floor(x / y));
  }
  if (op == "%") {
    if (ints) {
      const int64_t q = floor_div(as_int(a), as_int(b));
      return Value(as_int(a) - q * as_int(b));
    }
    if (y == 0) fail("float modulo");
    return Value(x - std::floor(x / y) * y);
  }
  if (op == "**") {
    if (ints && as_int(b) >= 0) {
      int64_t r = 1;
      for (int64_t i = 0; i < as_int(b); ++i) r = checked(r, as_int(a), '*');
      return Value(r);
    }
    return Value(std::pow(x, y));
  }
  return type_error();
}

Value Interpreter::get_attr(const Value& obj, const std::string& name) {
  if (obj.is<Undefined>()) undefined_error(obj);
  if (obj.is<DictPtr>()) {
    if (const Value* v = obj.as<DictPtr>()->find(name)) return *v;
  } else if (obj.is<NamespacePtr>()) {
    if (const Value* v = obj.as<NamespacePtr>()->attrs.find(name)) return *v;
  }
  return Value(
      Undefined{std::string("'") + type_name(obj) + " object' has no attribute '" + name + "'"});
}

Value Interpreter::get_item(const Value& obj, const Value& key) {
  if (obj.is<Undefined>()) undefined_error(obj);
  if (obj.is<DictPtr>() || obj.is<NamespacePtr>()) {
    if (key.is<std::string>()) return get_attr(obj, key.as<std::string>());
  } else if ((obj.is<ListPtr>() || obj.is<std::string>()) && is_integral(key)) {
    int64_t i = as_int(key);
    if (obj.is<ListPtr>()) {
      const List& l = *obj.as<ListPtr>();
      if (i < 0) i += static_cast<int64_t>(l.size());
      if (i >= 0 && i < static_cast<int64_t>(l.size())) return l[static_cast<size_t>(i)];
    } else {
      const std::u32string u = decode(obj.as<std::string>());
      if (i < 0) i += static_cast<int64_t>(u.size());
      if (i >= 0 && i < static_cast<int64_t>(u.size()))
        return Value(encode(std::u32string(1, u[static_cast<size_t>(i)])));
    }
  }
  return Value(
      Undefined{std::string("'") + type_name(obj) + " object' has no element " + repr(key)});
}

Value Interpreter::call(const Expr& e) {
  const Expr& callee = *e.args[0];
  if (callee.kind == ExprKind::kAttr) {
    const Value obj = eval(*callee.args[0]);
    return call_method(obj, callee.name, eval_args(e, 1));
  }
  if (callee.kind == ExprKind::kName) {
    const Value f = lookup(callee.name);
    if (f.is<Macro>()) return call_macro(*f.as<Macro>().node, eval_args(e, 1));
    if (f.is<Undefined>()) return call_global(callee.name, eval_args(e, 1));
    fail("'" + std::string(type_name(f)) + "' object is not callable");
  }
  const Value f = eval(callee);
  if (f.is<Macro>()) return call_macro(*f.as<Macro>().node, eval_args(e, 1));
  if (f.is<Undefined>()) undefined_error(f);
  fail(std::string("'") + type_name(f) + "' object is not callable");
}

Value Interpreter::call_macro(const Node& m, const Args& args) {
  if (args.pos.size() > m.params.size())
    fail("macro '" + m.targets[0] + "' takes at most " + std::to_string(m.params.size()) +
         " arguments");
  const size_t saved_floor = floor_;
  ScopeGuard guard(*this);
  floor_ = scopes_.size() - 1;
  struct FloorReset {
    size_t& floor;
    size_t value;
    ~FloorReset() { floor = value; }
  } reset{floor_, saved_floor};
  for (size_t i = 0; i < m.params.size(); ++i) {
    const auto& [name, def] = m.params[i];
    if (const Value* v = args.get(i, name)) {
      assign(name, *v);
    } else {
      assign(name, def ? eval(*def) : Value(Undefined{"'" + name + "' is undefined"}));
    }
  }
  std::string out;
  exec(m.body, out);
  return Value(std::move(out));
}

}  // namespace waypoint::jinja
