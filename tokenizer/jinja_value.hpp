#pragma once
// The runtime value type of the chat template interpreter and its Python-like
// printing, comparison and JSON conversion.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace waypoint::jinja {

// ---------------------------------------------------------------------------
// Values. Python semantics throughout, since that is what Hugging Face renders
// with: templates are written against Python's str(), ==, truthiness and
// json.dumps, and their output is what models were trained on.
// ---------------------------------------------------------------------------

struct Value;
struct Dict;
struct Namespace;
struct Node;
using List = std::vector<Value>;
using ListPtr = std::shared_ptr<const List>;
using DictPtr = std::shared_ptr<const Dict>;
using NamespacePtr = std::shared_ptr<Namespace>;

// jinja2's default Undefined: prints as "", is falsy and iterates as empty, but
// an attribute, call or arithmetic on it is an error naming what was missing.
struct Undefined {
  std::string hint;  // "'tools' is undefined"
};
struct None {};
struct Macro {
  const Node* node;
};

struct Value {
  // Lists and dicts are shared and immutable (templates cannot mutate them in
  // HF's immutable sandbox), so copying a message is a pointer copy.
  // A namespace is the one mutable object, shared by reference as in Python.
  using Variant = std::variant<Undefined, None, bool, int64_t, double, std::string, ListPtr,
                               DictPtr, NamespacePtr, Macro>;
  Variant v;

  Value() : v(Undefined{}) {}
  Value(Variant x) : v(std::move(x)) {}  // NOLINT: implicit by design
  Value(const char* s) : v(std::string(s)) {}
  Value(std::string s) : v(std::move(s)) {}
  Value(bool b) : v(b) {}
  Value(int64_t i) : v(i) {}
  Value(double d) : v(d) {}
  Value(None n) : v(n) {}
  Value(List l) : v(std::make_shared<const List>(std::move(l))) {}

  template <class T>
  bool is() const {
    return std::holds_alternative<T>(v);
  }
  template <class T>
  const T& as() const {
    return std::get<T>(v);
  }
};

// Python dicts keep insertion order; so does this (lookups are linear, which is
// fine for messages and tool schemas).
struct Dict {
  std::vector<std::pair<std::string, Value>> items;

  const Value* find(std::string_view key) const {
    for (const auto& [k, v] : items) {
      if (k == key) return &v;
    }
    return nullptr;
  }
  void set(std::string key, Value value) {
    for (auto& [k, v] : items) {
      if (k == key) {
        v = std::move(value);
        return;
      }
    }
    items.emplace_back(std::move(key), std::move(value));
  }
};

struct Namespace {
  Dict attrs;
};

Value make_dict(Dict d);

// An error while rendering. `offset` is filled in by the innermost expression
// or statement that sees it, so helpers need not know where they were called.
struct RenderError {
  std::string message;
  std::optional<size_t> offset;
  bool raised = false;  // from raise_exception(): the message is passed on as is
};

[[noreturn]] void fail(std::string message);

// A syntax error, always at a known place.
struct SyntaxError {
  std::string message;
  size_t offset;
};

// ---- UTF-8 helpers ----
// Decoding is lenient: a byte that is not part of valid UTF-8 becomes a lone
// code point 0xDC00+byte and is encoded back as that byte (like Python's

// ---- JSON: in (context) and out (tojson, as transformers' json.dumps) ----

template <class Json>
Value from_json(const Json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::null:
      return Value(None{});
    case nlohmann::json::value_t::boolean:
      return Value(j.template get<bool>());
    case nlohmann::json::value_t::number_integer:
      return Value(j.template get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      const auto u = j.template get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value(static_cast<double>(u));
      return Value(static_cast<int64_t>(u));
    }
    case nlohmann::json::value_t::number_float:
      return Value(j.template get<double>());
    case nlohmann::json::value_t::string:
      return Value(j.template get<std::string>());
    case nlohmann::json::value_t::array: {
      List l;
      l.reserve(j.size());
      for (const auto& x : j) l.push_back(from_json(x));
      return Value(std::move(l));
    }
    case nlohmann::json::value_t::object: {
      Dict d;
      d.items.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it)
        d.items.emplace_back(it.key(), from_json(it.value()));
      return make_dict(std::move(d));
    }
    default:
      return Value(None{});  // binary / discarded: not produced by JSON text
  }
}

struct JsonStyle {
  std::optional<std::string> indent;  // None: one line
  std::string item_sep = ", ";
  std::string key_sep = ": ";
  bool sort_keys = false;
  bool ensure_ascii = false;
};

// ---- UTF-8, string and value helpers (defined in jinja_value.cpp) ----

std::u32string decode(std::string_view s);
void append_utf8(std::string& out, char32_t cp);
std::string encode(std::u32string_view s);
bool is_py_space(char32_t c);
char32_t to_upper(char32_t c);
char32_t to_lower(char32_t c);
bool is_cased_letter(char32_t c);
std::string upper(std::string_view s);
std::string lower(std::string_view s);
std::string capitalize(std::string_view s);
std::string py_title(std::string_view s);
std::string jinja_title(std::string_view s);
std::string strip(std::string_view s, const std::optional<std::string>& chars, bool left,
                  bool right);
std::string replace_all(std::string_view s, std::string_view from, std::string_view to,
                        int64_t count);
const char* type_name(const Value& v);
std::string float_repr(double d);
std::string str_repr(std::string_view s);
std::string repr(const Value& v);
std::string str(const Value& v);
bool truthy(const Value& v);
bool is_number(const Value& v);
bool is_integral(const Value& v);
int64_t as_int(const Value& v);
double as_double(const Value& v);
bool equal(const Value& a, const Value& b);
int compare(const Value& a, const Value& b, std::string_view op);
[[noreturn]] void undefined_error(const Value& v);
List iterate(const Value& v);
int64_t length(const Value& v);
bool contains(const Value& haystack, const Value& needle);
void json_string(std::string& out, std::string_view s, bool ensure_ascii);
void to_json(std::string& out, const Value& v, const JsonStyle& st, int depth);

}  // namespace waypoint::jinja
