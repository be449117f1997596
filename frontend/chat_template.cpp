#include "frontend/chat_template.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include <utf8proc.h>
#include <nlohmann/json.hpp>

namespace waypoint {
namespace {

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

Value make_dict(Dict d) {
  return Value(Value::Variant(std::make_shared<const Dict>(std::move(d))));
}

// An error while rendering. `offset` is filled in by the innermost expression
// or statement that sees it, so helpers need not know where they were called.
struct RenderError {
  std::string message;
  std::optional<size_t> offset;
  bool raised = false;  // from raise_exception(): the message is passed on as is
};

[[noreturn]] void fail(std::string message) { throw RenderError{std::move(message), {}, false}; }

// A syntax error, always at a known place.
struct SyntaxError {
  std::string message;
  size_t offset;
};

// ---- UTF-8 helpers ----
// Decoding is lenient: a byte that is not part of valid UTF-8 becomes a lone
// code point 0xDC00+byte and is encoded back as that byte (like Python's
// surrogateescape), so slicing and stripping never corrupt a string.

std::u32string decode(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    int len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    char32_t cp = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
    bool ok = len > 0 && i + len <= s.size();
    for (int k = 1; ok && k < len; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) ok = false;
      cp = (cp << 6) | (c & 0x3F);
    }
    if (ok) {
      out.push_back(cp);
      i += len;
    } else {
      out.push_back(0xDC00 + b);
      ++i;
    }
  }
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp >= 0xDC80 && cp <= 0xDCFF) {
    out.push_back(static_cast<char>(cp - 0xDC00));
  } else if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string encode(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) append_utf8(out, c);
  return out;
}

// Python's str.isspace(), which str.strip() and str.split() use.
bool is_py_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

char32_t to_upper(char32_t c) {
  return c >= 0xDC80 && c <= 0xDCFF
             ? c
             : static_cast<char32_t>(utf8proc_toupper(static_cast<int32_t>(c)));
}
char32_t to_lower(char32_t c) {
  return c >= 0xDC80 && c <= 0xDCFF
             ? c
             : static_cast<char32_t>(utf8proc_tolower(static_cast<int32_t>(c)));
}
bool is_cased_letter(char32_t c) { return to_upper(c) != c || to_lower(c) != c; }

std::string upper(std::string_view s) {
  std::u32string u = decode(s);
  for (char32_t& c : u) c = to_upper(c);
  return encode(u);
}
std::string lower(std::string_view s) {
  std::u32string u = decode(s);
  for (char32_t& c : u) c = to_lower(c);
  return encode(u);
}
std::string capitalize(std::string_view s) {
  std::u32string u = decode(s);
  for (size_t i = 0; i < u.size(); ++i) u[i] = i == 0 ? to_upper(u[i]) : to_lower(u[i]);
  return encode(u);
}
// Python's str.title(): a cased letter after a non-cased character starts a word.
std::string py_title(std::string_view s) {
  std::u32string u = decode(s);
  bool prev_cased = false;
  for (char32_t& c : u) {
    const bool cased = is_cased_letter(c);
    c = cased && !prev_cased ? to_upper(c) : to_lower(c);
    prev_cased = cased;
  }
  return encode(u);
}
// jinja2's title filter: words start after '-', whitespace or an opening bracket.
std::string jinja_title(std::string_view s) {
  std::u32string u = decode(s);
  bool start = true;
  for (char32_t& c : u) {
    const bool sep = is_py_space(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
    c = start ? to_upper(c) : to_lower(c);
    start = sep;
  }
  return encode(u);
}

std::string strip(std::string_view s, const std::optional<std::string>& chars, bool left,
                  bool right) {
  const std::u32string u = decode(s);
  const std::u32string set = chars ? decode(*chars) : std::u32string();
  auto strippable = [&](char32_t c) {
    return chars ? set.find(c) != std::u32string::npos : is_py_space(c);
  };
  size_t b = 0, e = u.size();
  if (left)
    while (b < e && strippable(u[b])) ++b;
  if (right)
    while (e > b && strippable(u[e - 1])) --e;
  return encode(std::u32string_view(u).substr(b, e - b));
}

std::string replace_all(std::string_view s, std::string_view from, std::string_view to,
                        int64_t count) {
  std::string out;
  if (from.empty()) {
    // Python inserts `to` between every character (and at both ends).
    const std::u32string u = decode(s);
    int64_t n = 0;
    for (char32_t c : u) {
      if (count < 0 || n < count) {
        out += to;
        ++n;
      }
      append_utf8(out, c);
    }
    if (count < 0 || n < count) out += to;
    return out;
  }
  size_t pos = 0;
  int64_t n = 0;
  while (count < 0 || n < count) {
    const size_t hit = s.find(from, pos);
    if (hit == std::string_view::npos) break;
    out.append(s.substr(pos, hit - pos));
    out.append(to);
    pos = hit + from.size();
    ++n;
  }
  out.append(s.substr(pos));
  return out;
}

// ---- type names, str(), repr(), truthiness, equality ----

const char* type_name(const Value& v) {
  switch (v.v.index()) {
    case 0:
      return "undefined";
    case 1:
      return "NoneType";
    case 2:
      return "bool";
    case 3:
      return "int";
    case 4:
      return "float";
    case 5:
      return "str";
    case 6:
      return "list";
    case 7:
      return "dict";
    case 8:
      return "Namespace";
    default:
      return "macro";
  }
}

// Python's repr(float): the shortest string that reads back the same, in
// scientific notation when the exponent is below -4 or at least 16.
std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, r.ptr);  // e.g. "-1.2345e+02"
  const size_t epos = sci.find('e');
  const int exp = std::stoi(sci.substr(epos + 1));
  std::string mant = sci.substr(0, epos);
  const bool neg = !mant.empty() && mant[0] == '-';
  if (neg) mant.erase(0, 1);
  std::string digits;
  for (char c : mant)
    if (c != '.') digits.push_back(c);
  std::string out = neg ? "-" : "";
  if (exp < -4 || exp >= 16) {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char eb[16];
    std::snprintf(eb, sizeof eb, "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
    return out + eb;
  }
  if (exp < 0) return out + "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
  const auto int_len = static_cast<size_t>(exp) + 1;
  if (digits.size() <= int_len)
    return out + digits + std::string(int_len - digits.size(), '0') + ".0";
  return out + digits.substr(0, int_len) + "." + digits.substr(int_len);
}

std::string str(const Value& v);

std::string str_repr(std::string_view s) {
  const bool dq = s.find('\'') != std::string_view::npos && s.find('"') == std::string_view::npos;
  const char q = dq ? '"' : '\'';
  std::string out(1, q);
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == q || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7F) {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", u);
      out += b;
    } else {
      out += c;
    }
  }
  out += q;
  return out;
}

std::string repr(const Value& v) {
  if (v.is<std::string>()) return str_repr(v.as<std::string>());
  if (v.is<ListPtr>()) {
    std::string out = "[";
    bool first = true;
    for (const Value& x : *v.as<ListPtr>()) {
      if (!first) out += ", ";
      first = false;
      out += repr(x);
    }
    return out + "]";
  }
  if (v.is<DictPtr>()) {
    std::string out = "{";
    bool first = true;
    for (const auto& [k, x] : v.as<DictPtr>()->items) {
      if (!first) out += ", ";
      first = false;
      out += str_repr(k) + ": " + repr(x);
    }
    return out + "}";
  }
  return str(v);
}

std::string str(const Value& v) {
  return std::visit(
      [&](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, Undefined>) {
          return "";
        } else if constexpr (std::is_same_v<T, None>) {
          return "None";
        } else if constexpr (std::is_same_v<T, bool>) {
          return x ? "True" : "False";
        } else if constexpr (std::is_same_v<T, int64_t>) {
          return std::to_string(x);
        } else if constexpr (std::is_same_v<T, double>) {
          return float_repr(x);
        } else if constexpr (std::is_same_v<T, std::string>) {
          return x;
        } else if constexpr (std::is_same_v<T, NamespacePtr>) {
          return "<Namespace " + repr(make_dict(x->attrs)) + ">";
        } else if constexpr (std::is_same_v<T, Macro>) {
          return "<Macro>";
        } else {
          return repr(v);
        }
      },
      v.v);
}

bool truthy(const Value& v) {
  return std::visit(
      [](const auto& x) -> bool {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, Undefined> || std::is_same_v<T, None>) {
          return false;
        } else if constexpr (std::is_same_v<T, bool>) {
          return x;
        } else if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, double>) {
          return x != 0;
        } else if constexpr (std::is_same_v<T, std::string>) {
          return !x.empty();
        } else if constexpr (std::is_same_v<T, ListPtr>) {
          return !x->empty();
        } else if constexpr (std::is_same_v<T, DictPtr>) {
          return !x->items.empty();
        } else {
          return true;
        }
      },
      v.v);
}

// Python's bool is an int: True == 1 and True + 1 == 2.
bool is_number(const Value& v) { return v.is<int64_t>() || v.is<double>() || v.is<bool>(); }
bool is_integral(const Value& v) { return v.is<int64_t>() || v.is<bool>(); }
int64_t as_int(const Value& v) { return v.is<bool>() ? (v.as<bool>() ? 1 : 0) : v.as<int64_t>(); }
double as_double(const Value& v) {
  return v.is<double>() ? v.as<double>() : static_cast<double>(as_int(v));
}

bool equal(const Value& a, const Value& b) {
  if (is_number(a) && is_number(b)) {
    if (is_integral(a) && is_integral(b)) return as_int(a) == as_int(b);
    return as_double(a) == as_double(b);
  }
  if (a.v.index() != b.v.index()) return false;
  if (a.is<Undefined>() || a.is<None>()) return true;
  if (a.is<std::string>()) return a.as<std::string>() == b.as<std::string>();
  if (a.is<ListPtr>()) {
    const List& x = *a.as<ListPtr>();
    const List& y = *b.as<ListPtr>();
    if (x.size() != y.size()) return false;
    for (size_t i = 0; i < x.size(); ++i)
      if (!equal(x[i], y[i])) return false;
    return true;
  }
  if (a.is<DictPtr>()) {
    const Dict& x = *a.as<DictPtr>();
    const Dict& y = *b.as<DictPtr>();
    if (x.items.size() != y.items.size()) return false;
    for (const auto& [k, v] : x.items) {
      const Value* o = y.find(k);
      if (!o || !equal(v, *o)) return false;
    }
    return true;
  }
  if (a.is<NamespacePtr>()) return a.as<NamespacePtr>() == b.as<NamespacePtr>();
  return a.as<Macro>().node == b.as<Macro>().node;
}

// Python's ordering; <0, 0, >0. Mixed types are a TypeError, as in Python 3.
int compare(const Value& a, const Value& b, std::string_view op) {
  if (is_number(a) && is_number(b)) {
    if (is_integral(a) && is_integral(b)) return as_int(a) < as_int(b) ? -1 : as_int(a) > as_int(b);
    const double x = as_double(a), y = as_double(b);
    return x < y ? -1 : x > y;
  }
  if (a.is<std::string>() && b.is<std::string>()) {
    const int c =
        a.as<std::string>().compare(b.as<std::string>());  // byte order = code point order
    return c < 0 ? -1 : c > 0;
  }
  if (a.is<ListPtr>() && b.is<ListPtr>()) {
    const List& x = *a.as<ListPtr>();
    const List& y = *b.as<ListPtr>();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (equal(x[i], y[i])) continue;
      return compare(x[i], y[i], op);
    }
    return x.size() < y.size() ? -1 : x.size() > y.size();
  }
  fail("'" + std::string(op) + "' not supported between instances of '" + type_name(a) + "' and '" +
       type_name(b) + "'");
}

[[noreturn]] void undefined_error(const Value& v) {
  const std::string& hint = v.as<Undefined>().hint;
  fail(hint.empty() ? "undefined value used" : hint);
}

// Items of a for loop or a filter over a sequence.
List iterate(const Value& v) {
  if (v.is<ListPtr>()) return *v.as<ListPtr>();
  if (v.is<Undefined>()) return {};
  if (v.is<DictPtr>()) {
    List keys;
    for (const auto& [k, x] : v.as<DictPtr>()->items) keys.emplace_back(k);
    return keys;
  }
  if (v.is<std::string>()) {
    List chars;
    for (char32_t c : decode(v.as<std::string>())) chars.emplace_back(encode(std::u32string(1, c)));
    return chars;
  }
  if (v.is<NamespacePtr>()) {
    List keys;
    for (const auto& [k, x] : v.as<NamespacePtr>()->attrs.items) keys.emplace_back(k);
    return keys;
  }
  fail(std::string("'") + type_name(v) + "' object is not iterable");
}

int64_t length(const Value& v) {
  if (v.is<std::string>()) return static_cast<int64_t>(decode(v.as<std::string>()).size());
  if (v.is<ListPtr>()) return static_cast<int64_t>(v.as<ListPtr>()->size());
  if (v.is<DictPtr>()) return static_cast<int64_t>(v.as<DictPtr>()->items.size());
  if (v.is<Undefined>()) return 0;
  fail(std::string("object of type '") + type_name(v) + "' has no len()");
}

bool contains(const Value& haystack, const Value& needle) {
  if (haystack.is<std::string>()) {
    if (!needle.is<std::string>())
      fail(std::string("'in <string>' requires string as left operand, not ") + type_name(needle));
    return haystack.as<std::string>().find(needle.as<std::string>()) != std::string::npos;
  }
  if (haystack.is<DictPtr>())
    return needle.is<std::string>() && haystack.as<DictPtr>()->find(needle.as<std::string>());
  if (haystack.is<NamespacePtr>())
    return needle.is<std::string>() &&
           haystack.as<NamespacePtr>()->attrs.find(needle.as<std::string>());
  for (const Value& x : iterate(haystack))
    if (equal(x, needle)) return true;
  return false;
}

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

void json_string(std::string& out, std::string_view s, bool ensure_ascii) {
  out += '"';
  for (char32_t c : decode(s)) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default: {
        char b[16];
        if (c < 0x20 || (ensure_ascii && c >= 0x7F)) {
          if (c >= 0x10000) {
            const char32_t v = c - 0x10000;
            std::snprintf(b, sizeof b, "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
          } else {
            std::snprintf(b, sizeof b, "\\u%04x", static_cast<unsigned>(c));
          }
          out += b;
        } else {
          append_utf8(out, c);
        }
      }
    }
  }
  out += '"';
}

void to_json(std::string& out, const Value& v, const JsonStyle& st, int depth) {
  auto newline = [&](int d) {
    if (!st.indent) return;
    out += '\n';
    for (int i = 0; i < d; ++i) out += *st.indent;
  };
  if (v.is<None>()) {
    out += "null";
  } else if (v.is<bool>()) {
    out += v.as<bool>() ? "true" : "false";
  } else if (v.is<int64_t>()) {
    out += std::to_string(v.as<int64_t>());
  } else if (v.is<double>()) {
    const double d = v.as<double>();
    out += std::isnan(d)   ? "NaN"
           : std::isinf(d) ? (d < 0 ? "-Infinity" : "Infinity")
                           : float_repr(d);
  } else if (v.is<std::string>()) {
    json_string(out, v.as<std::string>(), st.ensure_ascii);
  } else if (v.is<ListPtr>()) {
    const List& l = *v.as<ListPtr>();
    if (l.empty()) {
      out += "[]";
      return;
    }
    out += '[';
    for (size_t i = 0; i < l.size(); ++i) {
      if (i) out += st.item_sep;
      newline(depth + 1);
      to_json(out, l[i], st, depth + 1);
    }
    newline(depth);
    out += ']';
  } else if (v.is<DictPtr>()) {
    std::vector<const std::pair<std::string, Value>*> items;
    for (const auto& kv : v.as<DictPtr>()->items) items.push_back(&kv);
    if (items.empty()) {
      out += "{}";
      return;
    }
    if (st.sort_keys)
      std::stable_sort(items.begin(), items.end(),
                       [](auto* a, auto* b) { return a->first < b->first; });
    out += '{';
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) out += st.item_sep;
      newline(depth + 1);
      json_string(out, items[i]->first, st.ensure_ascii);
      out += st.key_sep;
      to_json(out, items[i]->second, st, depth + 1);
    }
    newline(depth);
    out += '}';
  } else {
    fail(std::string("Object of type ") + type_name(v) + " is not JSON serializable");
  }
}

// ---------------------------------------------------------------------------
// Lexer. Whitespace control is applied here, as jinja2's lexer does:
// `-` strips all whitespace on that side, lstrip_blocks removes the spaces
// before a block or comment tag that starts a line, trim_blocks removes the
// newline right after one, and `+` turns either off for that tag.
// ---------------------------------------------------------------------------

enum class Tok {
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
  Tok kind;
  std::string text;  // text, name, decoded string literal or operator
  size_t offset;
  int64_t i = 0;
  double f = 0;
};

bool is_ident_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool is_ws(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

class Lexer {
 public:
  explicit Lexer(const std::string& src) : s_(src) {}

  std::vector<Token> run() {
    size_t pos = 0;
    const size_t n = s_.size();
    while (pos <= n) {
      size_t tag = find_tag(pos);
      std::string_view text(s_.data() + pos, (tag == std::string::npos ? n : tag) - pos);
      if (tag == std::string::npos) {
        if (!text.empty()) out_.push_back({Tok::kText, std::string(text), pos});
        break;
      }
      const char kind = s_[tag + 1];
      const char mod = tag + 2 < n ? s_[tag + 2] : '\0';
      if (mod == '-') {
        while (!text.empty() && is_ws(text.back())) text.remove_suffix(1);
      } else if (kind != '{' && mod != '+') {
        // lstrip_blocks: only when the tag is the first thing on its line.
        const size_t nl = text.rfind('\n');
        const size_t line_start = nl == std::string_view::npos ? 0 : nl + 1;
        const bool line_starting = nl != std::string_view::npos || pos == 0 || s_[pos - 1] == '\n';
        const std::string_view tail = text.substr(line_start);
        if (line_starting &&
            std::all_of(tail.begin(), tail.end(), [](char c) { return is_ws(c) && c != '\n'; }))
          text = text.substr(0, line_start);
      }
      if (!text.empty()) out_.push_back({Tok::kText, std::string(text), pos});
      size_t p = tag + 2 + ((mod == '-' || (mod == '+' && kind != '{')) ? 1 : 0);
      char close_mod = '\0';
      if (kind == '#') {
        const size_t end = s_.find("#}", p);
        if (end == std::string::npos) throw SyntaxError{"unclosed comment '{#'", tag};
        if (end > p && (s_[end - 1] == '-' || s_[end - 1] == '+')) close_mod = s_[end - 1];
        pos = end + 2;
      } else {
        pos = lex_tag(p, kind == '{', tag, close_mod);
      }
      if (close_mod == '-') {
        while (pos < n && is_ws(s_[pos])) ++pos;
      } else if (kind != '{' && close_mod != '+' && pos < n && s_[pos] == '\n') {
        ++pos;  // trim_blocks
      }
    }
    out_.push_back({Tok::kEnd, "", n});
    return std::move(out_);
  }

 private:
  size_t find_tag(size_t from) const {
    for (size_t p = s_.find('{', from); p != std::string::npos; p = s_.find('{', p + 1)) {
      if (p + 1 < s_.size() && (s_[p + 1] == '{' || s_[p + 1] == '%' || s_[p + 1] == '#')) return p;
    }
    return std::string::npos;
  }

  // Lexes the inside of {{ }} or {% %} starting at p; returns the offset after
  // the closing delimiter and sets close_mod to '-', '+' or '\0'.
  size_t lex_tag(size_t p, bool is_var, size_t open_at, char& close_mod) {
    out_.push_back({is_var ? Tok::kVarOpen : Tok::kBlockOpen, "", open_at});
    const size_t n = s_.size();
    int depth = 0;  // brackets: a '}}' inside a dict literal does not close the tag
    const std::string_view close = is_var ? "}}" : "%}";
    while (true) {
      while (p < n && is_ws(s_[p])) ++p;
      if (p >= n) throw SyntaxError{is_var ? "unclosed '{{'" : "unclosed '{%'", open_at};
      const std::string_view rest(s_.data() + p, n - p);
      if (depth == 0) {
        for (char m : {'-', '+'}) {
          if (rest.size() >= 3 && rest[0] == m && rest.substr(1, 2) == close &&
              (m == '-' || !is_var)) {
            out_.push_back({is_var ? Tok::kVarClose : Tok::kBlockClose, "", p});
            close_mod = m;
            return p + 3;
          }
        }
        if (rest.substr(0, 2) == close) {
          out_.push_back({is_var ? Tok::kVarClose : Tok::kBlockClose, "", p});
          close_mod = '\0';
          return p + 2;
        }
      }
      const char c = s_[p];
      if (c == '\'' || c == '"') {
        p = lex_string(p);
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        p = lex_number(p);
      } else if (is_ident_start(c)) {
        size_t e = p;
        while (e < n && is_ident_char(s_[e])) ++e;
        out_.push_back({Tok::kName, s_.substr(p, e - p), p});
        p = e;
      } else {
        static constexpr std::string_view kTwo[] = {"//", "**", "==", "!=", "<=", ">="};
        std::string op;
        for (std::string_view t : kTwo)
          if (rest.substr(0, 2) == t) op = t;
        if (op.empty()) {
          if (std::string_view("+-*/%~<>=()[]{},.:|").find(c) == std::string_view::npos)
            throw SyntaxError{std::string("unexpected character '") + c + "'", p};
          op = std::string(1, c);
          if (c == '(' || c == '[' || c == '{') ++depth;
          if ((c == ')' || c == ']' || c == '}') && depth > 0) --depth;
        }
        out_.push_back({Tok::kOp, op, p});
        p += op.size();
      }
    }
  }

  // Python string literal escapes (jinja2 decodes them with "unicode-escape").
  size_t lex_string(size_t p) {
    const char q = s_[p];
    const size_t start = p++;
    std::string v;
    const size_t n = s_.size();
    auto hex = [&](size_t at, int len) -> char32_t {
      if (at + len > n) throw SyntaxError{"truncated escape in string", at};
      char32_t cp = 0;
      for (int k = 0; k < len; ++k) {
        const char h = s_[at + k];
        int d = std::isdigit(static_cast<unsigned char>(h)) ? h - '0'
                : (h >= 'a' && h <= 'f')                    ? h - 'a' + 10
                : (h >= 'A' && h <= 'F')                    ? h - 'A' + 10
                                                            : -1;
        if (d < 0) throw SyntaxError{"invalid hex escape in string", at};
        cp = cp * 16 + static_cast<char32_t>(d);
      }
      return cp;
    };
    while (true) {
      if (p >= n) throw SyntaxError{"unterminated string", start};
      const char c = s_[p];
      if (c == q) break;
      if (c != '\\') {
        v += c;
        ++p;
        continue;
      }
      if (p + 1 >= n) throw SyntaxError{"unterminated string", start};
      const char e = s_[p + 1];
      p += 2;
      switch (e) {
        case 'n':
          v += '\n';
          break;
        case 't':
          v += '\t';
          break;
        case 'r':
          v += '\r';
          break;
        case '\\':
          v += '\\';
          break;
        case '\'':
          v += '\'';
          break;
        case '"':
          v += '"';
          break;
        case 'a':
          v += '\a';
          break;
        case 'b':
          v += '\b';
          break;
        case 'f':
          v += '\f';
          break;
        case 'v':
          v += '\v';
          break;
        case '\n':
          break;  // line continuation
        case 'x':
          append_utf8(v, hex(p, 2));
          p += 2;
          break;
        case 'u':
          append_utf8(v, hex(p, 4));
          p += 4;
          break;
        case 'U':
          append_utf8(v, hex(p, 8));
          p += 8;
          break;
        default:
          if (e >= '0' && e <= '7') {
            char32_t cp = static_cast<char32_t>(e - '0');
            for (int k = 0; k < 2 && p < n && s_[p] >= '0' && s_[p] <= '7'; ++k, ++p)
              cp = cp * 8 + static_cast<char32_t>(s_[p] - '0');
            append_utf8(v, cp);
          } else {
            v += '\\';  // Python keeps unknown escapes as written
            v += e;
          }
      }
    }
    out_.push_back({Tok::kString, std::move(v), start});
    return p + 1;
  }

  size_t lex_number(size_t p) {
    const size_t start = p, n = s_.size();
    auto digits = [&] {
      while (p < n && (std::isdigit(static_cast<unsigned char>(s_[p])) || s_[p] == '_')) ++p;
    };
    digits();
    bool is_float = false;
    if (p + 1 < n && s_[p] == '.' && std::isdigit(static_cast<unsigned char>(s_[p + 1]))) {
      is_float = true;
      ++p;
      digits();
    }
    if (p < n && (s_[p] == 'e' || s_[p] == 'E')) {
      size_t q = p + 1;
      if (q < n && (s_[q] == '+' || s_[q] == '-')) ++q;
      if (q < n && std::isdigit(static_cast<unsigned char>(s_[q]))) {
        is_float = true;
        p = q;
        digits();
      }
    }
    std::string text;
    for (size_t k = start; k < p; ++k)
      if (s_[k] != '_') text += s_[k];
    Token t{is_float ? Tok::kFloat : Tok::kInt, text, start};
    if (is_float) {
      t.f = std::strtod(text.c_str(), nullptr);
    } else {
      auto r = std::from_chars(text.data(), text.data() + text.size(), t.i);
      if (r.ec != std::errc()) throw SyntaxError{"integer literal too large", start};
    }
    out_.push_back(std::move(t));
    return p;
  }

  const std::string& s_;
  std::vector<Token> out_;
};

// ---------------------------------------------------------------------------
// Syntax tree.
// ---------------------------------------------------------------------------

enum class EK {
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
  EK kind;
  size_t offset;
  Value literal;              // kLiteral
  std::string name;           // name, attribute, filter, test or operator
  std::vector<ExprPtr> args;  // operands; see parse_* for each kind's layout
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;  // kCompare: one per pair of operands
  bool negated = false;          // kTest: `is not`
};

enum class NK { kText, kOutput, kIf, kFor, kSet, kSetBlock, kMacro, kBreak, kContinue, kBlock };

struct Node;
using Body = std::vector<std::unique_ptr<Node>>;

struct Node {
  NK kind;
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

}  // namespace

struct ChatTemplate::Program {
  std::string source;  // newline-normalized, for line/column of errors
  Body root;

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

namespace {

// ---------------------------------------------------------------------------
// Parser: recursive descent with jinja2's precedence, lowest first:
// `x if c else y`, or, and, not, comparisons/in, + -, ~, * / // %, **,
// unary - +, then primary with .attr [index] (call), then | filters and `is`
// tests (so `'a' + s | trim` trims s only, as in Jinja).
// ---------------------------------------------------------------------------

class Parser {
 public:
  explicit Parser(const std::vector<Token>& t) : t_(t) {}

  Body parse_template() {
    std::string end;
    Body b = parse_body({}, end, 0);
    return b;
  }

 private:
  const Token& cur() const { return t_[i_]; }
  const Token& next() { return t_[i_++]; }
  bool at_op(std::string_view op) const { return cur().kind == Tok::kOp && cur().text == op; }
  bool at_name(std::string_view n) const { return cur().kind == Tok::kName && cur().text == n; }
  bool at_name_after(std::string_view n) const {
    return i_ + 1 < t_.size() && t_[i_ + 1].kind == Tok::kName && t_[i_ + 1].text == n;
  }

  [[noreturn]] void error(const std::string& msg) const { throw SyntaxError{msg, cur().offset}; }

  std::string describe(const Token& t) const {
    switch (t.kind) {
      case Tok::kVarClose:
        return "'}}'";
      case Tok::kBlockClose:
        return "'%}'";
      case Tok::kEnd:
        return "end of template";
      case Tok::kString:
        return "string";
      case Tok::kText:
        return "text";
      default:
        return "'" + t.text + "'";
    }
  }
  void expect_op(std::string_view op) {
    if (!at_op(op)) error("expected '" + std::string(op) + "', got " + describe(cur()));
    ++i_;
  }
  std::string expect_name() {
    if (cur().kind != Tok::kName) error("expected a name, got " + describe(cur()));
    return next().text;
  }
  void expect_block_close() {
    if (cur().kind != Tok::kBlockClose) error("expected '%}', got " + describe(cur()));
    ++i_;
  }

  // Statements until one of `ends` opens a block tag; its name is left in
  // `end` and the tokens after the name (e.g. an elif condition) are left to
  // the caller. `opener` is where the enclosing tag began, for the error.
  Body parse_body(std::initializer_list<std::string_view> ends, std::string& end, size_t opener) {
    Body body;
    while (true) {
      const Token& t = cur();
      if (t.kind == Tok::kEnd) {
        if (ends.size() != 0) {
          throw SyntaxError{"unexpected end of template: expected '" + std::string(*ends.begin()) +
                                "' to close the tag here",
                            opener};
        }
        return body;
      }
      if (t.kind == Tok::kText) {
        auto n = node(NK::kText, t.offset);
        n->text = t.text;
        body.push_back(std::move(n));
        ++i_;
      } else if (t.kind == Tok::kVarOpen) {
        ++i_;
        auto n = node(NK::kOutput, t.offset);
        n->expr = parse_expression();
        if (cur().kind != Tok::kVarClose) error("expected '}}', got " + describe(cur()));
        ++i_;
        body.push_back(std::move(n));
      } else if (t.kind == Tok::kBlockOpen) {
        const Token& name = t_[i_ + 1];
        if (name.kind != Tok::kName) throw SyntaxError{"expected a tag name", name.offset};
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

  std::unique_ptr<Node> node(NK kind, size_t offset) {
    auto n = std::make_unique<Node>();
    n->kind = kind;
    n->offset = offset;
    return n;
  }

  std::unique_ptr<Node> parse_statement(const std::string& tag, size_t at) {
    std::string end;
    if (tag == "if") {
      auto n = node(NK::kIf, at);
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
      auto n = node(NK::kFor, at);
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
      auto n = node(NK::kSet, at);
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
      n->kind = NK::kSetBlock;
      n->body = parse_body({"endset"}, end, at);
      expect_block_close();
      return n;
    }
    if (tag == "macro") {
      auto n = node(NK::kMacro, at);
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
      return node(tag == "break" ? NK::kBreak : NK::kContinue, at);
    }
    if (tag == "generation") {
      // transformers' marker for assistant-token masks; it renders its body.
      auto n = node(NK::kBlock, at);
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

  ExprPtr make(EK kind, size_t offset) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->offset = offset;
    return e;
  }
  ExprPtr binary(EK kind, std::string op, ExprPtr a, ExprPtr b, size_t offset) {
    auto e = make(kind, offset);
    e->name = std::move(op);
    e->args.push_back(std::move(a));
    e->args.push_back(std::move(b));
    return e;
  }

  ExprPtr parse_expression(bool with_cond = true) {
    if (!with_cond) return parse_or();
    ExprPtr e = parse_or();
    while (at_name("if")) {
      const size_t at = next().offset;
      auto c = make(EK::kCond, at);
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
  ExprPtr parse_or() {
    ExprPtr e = parse_and();
    while (at_name("or")) {
      const size_t at = next().offset;
      e = binary(EK::kOr, "or", std::move(e), parse_and(), at);
    }
    return e;
  }
  ExprPtr parse_and() {
    ExprPtr e = parse_not();
    while (at_name("and")) {
      const size_t at = next().offset;
      e = binary(EK::kAnd, "and", std::move(e), parse_not(), at);
    }
    return e;
  }
  ExprPtr parse_not() {
    if (at_name("not")) {
      const size_t at = next().offset;
      auto e = make(EK::kNot, at);
      e->args.push_back(parse_not());
      return e;
    }
    return parse_compare();
  }
  ExprPtr parse_compare() {
    const size_t at = cur().offset;
    ExprPtr first = parse_math1();
    std::vector<std::string> ops;
    std::vector<ExprPtr> operands;
    while (true) {
      std::string op;
      if (cur().kind == Tok::kOp &&
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
    auto e = make(EK::kCompare, at);
    e->args.push_back(std::move(first));
    for (auto& o : operands) e->args.push_back(std::move(o));
    e->ops = std::move(ops);
    return e;
  }
  ExprPtr parse_math1() {
    ExprPtr e = parse_concat();
    while (at_op("+") || at_op("-")) {
      const Token& t = next();
      e = binary(EK::kBinary, t.text, std::move(e), parse_concat(), t.offset);
    }
    return e;
  }
  ExprPtr parse_concat() {
    ExprPtr e = parse_math2();
    while (at_op("~")) {
      const size_t at = next().offset;
      e = binary(EK::kBinary, "~", std::move(e), parse_math2(), at);
    }
    return e;
  }
  ExprPtr parse_math2() {
    ExprPtr e = parse_pow();
    while (at_op("*") || at_op("/") || at_op("//") || at_op("%")) {
      const Token& t = next();
      e = binary(EK::kBinary, t.text, std::move(e), parse_pow(), t.offset);
    }
    return e;
  }
  ExprPtr parse_pow() {
    ExprPtr e = parse_unary(true);
    while (at_op("**")) {
      const size_t at = next().offset;
      e = binary(EK::kBinary, "**", std::move(e), parse_unary(true), at);
    }
    return e;
  }
  ExprPtr parse_unary(bool with_filter) {
    ExprPtr e;
    if (at_op("-") || at_op("+")) {
      const Token& t = next();
      e = make(t.text == "-" ? EK::kNeg : EK::kPos, t.offset);
      e->args.push_back(parse_unary(false));
    } else {
      e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    if (with_filter) e = parse_filter_expr(std::move(e));
    return e;
  }

  ExprPtr parse_primary() {
    const Token& t = cur();
    switch (t.kind) {
      case Tok::kName: {
        ++i_;
        auto e = make(EK::kLiteral, t.offset);
        if (t.text == "true" || t.text == "True") {
          e->literal = Value(true);
        } else if (t.text == "false" || t.text == "False") {
          e->literal = Value(false);
        } else if (t.text == "none" || t.text == "None") {
          e->literal = Value(None{});
        } else {
          e->kind = EK::kName;
          e->name = t.text;
        }
        return e;
      }
      case Tok::kString: {
        std::string s;
        while (cur().kind == Tok::kString) s += next().text;  // adjacent literals join
        auto e = make(EK::kLiteral, t.offset);
        e->literal = Value(std::move(s));
        return e;
      }
      case Tok::kInt:
      case Tok::kFloat: {
        ++i_;
        auto e = make(EK::kLiteral, t.offset);
        e->literal = t.kind == Tok::kInt ? Value(t.i) : Value(t.f);
        return e;
      }
      case Tok::kOp:
        if (t.text == "(") {
          ++i_;
          if (at_op(")")) {
            ++i_;
            return make(EK::kList, t.offset);  // () is an empty tuple
          }
          ExprPtr e = parse_expression();
          if (at_op(",")) {  // a tuple: a list here, since both only get read
            auto l = make(EK::kList, t.offset);
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
          auto l = make(EK::kList, t.offset);
          while (!at_op("]")) {
            l->args.push_back(parse_expression());
            if (!at_op("]")) expect_op(",");
          }
          ++i_;
          return l;
        }
        if (t.text == "{") {
          ++i_;
          auto d = make(EK::kDict, t.offset);
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

  ExprPtr parse_postfix(ExprPtr e) {
    while (true) {
      if (at_op(".")) {
        const size_t at = next().offset;
        if (cur().kind == Tok::kInt) {  // x.0 is x[0] in Jinja
          auto ix = make(EK::kIndex, at);
          ix->args.push_back(std::move(e));
          auto lit = make(EK::kLiteral, cur().offset);
          lit->literal = Value(next().i);
          ix->args.push_back(std::move(lit));
          e = std::move(ix);
          continue;
        }
        auto a = make(EK::kAttr, at);
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

  ExprPtr parse_subscript(ExprPtr obj) {
    const size_t at = next().offset;  // '['
    ExprPtr start, stop, step;
    if (!at_op(":")) start = parse_expression();
    if (at_op("]")) {
      ++i_;
      if (!start) error("empty subscript");
      auto ix = make(EK::kIndex, at);
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
    auto sl = make(EK::kSlice, at);
    sl->args.push_back(std::move(obj));
    sl->args.push_back(std::move(start));
    sl->args.push_back(std::move(stop));
    sl->args.push_back(std::move(step));
    return sl;
  }

  // Arguments in parentheses into e->args (after what is already there) and e->kwargs.
  void parse_args(Expr& e) {
    expect_op("(");
    while (!at_op(")")) {
      if (cur().kind == Tok::kName && i_ + 1 < t_.size() && t_[i_ + 1].kind == Tok::kOp &&
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

  ExprPtr parse_call(ExprPtr callee) {
    auto c = make(EK::kCall, callee->offset);  // errors point at what was called
    c->args.push_back(std::move(callee));
    parse_args(*c);
    return c;
  }

  ExprPtr parse_filter_expr(ExprPtr e) {
    while (true) {
      if (at_op("|")) {
        ++i_;
        auto f = make(EK::kFilter, cur().offset);
        f->name = expect_name();
        f->args.push_back(std::move(e));
        if (at_op("(")) parse_args(*f);
        e = std::move(f);
      } else if (at_name("is")) {
        ++i_;
        auto t = make(EK::kTest, cur().offset);
        if (at_name("not")) {
          ++i_;
          t->negated = true;
        }
        t->name = expect_name();
        t->args.push_back(std::move(e));
        if (at_op("(")) {
          parse_args(*t);
        } else if ((cur().kind == Tok::kName && !at_name("else") && !at_name("or") &&
                    !at_name("and") && !at_name("if") && !at_name("is") && !at_name("in") &&
                    !at_name("not")) ||
                   cur().kind == Tok::kString || cur().kind == Tok::kInt ||
                   cur().kind == Tok::kFloat || at_op("[") || at_op("{")) {
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

  const std::vector<Token>& t_;
  size_t i_ = 0;
  int loop_depth_ = 0;
};

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

class Interpreter {
 public:
  Interpreter(const ChatTemplate::Program& program, const Dict& context) : program_(program) {
    scopes_.emplace_back();
    for (const auto& [k, v] : context.items) scopes_.back()[k] = v;
  }

  std::string run() {
    std::string out;
    exec(program_.root, out);
    return out;
  }

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

  Value lookup(const std::string& name) const {
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
  void assign(const std::string& name, Value v) { scopes_.back()[name] = std::move(v); }

  Flow exec(const Body& body, std::string& out) {
    for (const auto& n : body) {
      const Flow f = exec_node(*n, out);
      if (f != Flow::kNormal) return f;
    }
    return Flow::kNormal;
  }

  Flow exec_node(const Node& n, std::string& out) {
    try {
      return exec_node_unchecked(n, out);
    } catch (RenderError& e) {
      if (!e.offset) e.offset = n.offset;
      throw;
    }
  }

  Flow exec_node_unchecked(const Node& n, std::string& out) {
    switch (n.kind) {
      case NK::kText:
        out += n.text;
        return Flow::kNormal;
      case NK::kOutput:
        out += str(eval(*n.expr));
        return Flow::kNormal;
      case NK::kBlock:
        return exec(n.body, out);
      case NK::kBreak:
        return Flow::kBreak;
      case NK::kContinue:
        return Flow::kContinue;
      case NK::kIf:
        for (const auto& [cond, body] : n.branches)
          if (truthy(eval(*cond))) return exec(body, out);
        return exec(n.else_body, out);
      case NK::kSet: {
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
      case NK::kSetBlock: {
        std::string captured;
        exec(n.body, captured);
        assign(n.targets[0], Value(std::move(captured)));
        return Flow::kNormal;
      }
      case NK::kMacro:
        assign(n.targets[0], Value(Value::Variant(Macro{&n})));
        return Flow::kNormal;
      case NK::kFor:
        exec_for(n, out);
        return Flow::kNormal;
    }
    return Flow::kNormal;
  }

  void unpack(const std::vector<std::string>& targets, const Value& v) {
    const List items = iterate(v);
    if (items.size() != targets.size())
      fail("cannot unpack " + std::to_string(items.size()) + " values into " +
           std::to_string(targets.size()) + " names");
    for (size_t i = 0; i < targets.size(); ++i) assign(targets[i], items[i]);
  }

  void exec_for(const Node& n, std::string& out) {
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

  void bind_targets(const Node& n, const Value& item) {
    if (n.targets.size() == 1) {
      assign(n.targets[0], item);
    } else {
      unpack(n.targets, item);
    }
  }

  Value eval(const Expr& e) {
    try {
      return eval_unchecked(e);
    } catch (RenderError& err) {
      if (!err.offset) err.offset = e.offset;
      throw;
    }
  }

  Args eval_args(const Expr& e, size_t first) {
    Args a;
    for (size_t i = first; i < e.args.size(); ++i) a.pos.push_back(eval(*e.args[i]));
    for (const auto& [k, x] : e.kwargs) a.kw.emplace_back(k, eval(*x));
    return a;
  }

  Value eval_unchecked(const Expr& e) {
    switch (e.kind) {
      case EK::kLiteral:
        return e.literal;
      case EK::kName:
        return lookup(e.name);
      case EK::kList: {
        List l;
        for (const auto& x : e.args) l.push_back(eval(*x));
        return Value(std::move(l));
      }
      case EK::kDict: {
        Dict d;
        for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
          const Value k = eval(*e.args[i]);
          if (!k.is<std::string>()) fail("dict keys must be strings here");
          d.set(k.as<std::string>(), eval(*e.args[i + 1]));
        }
        return make_dict(std::move(d));
      }
      case EK::kAttr:
        return get_attr(eval(*e.args[0]), e.name);
      case EK::kIndex:
        return get_item(eval(*e.args[0]), eval(*e.args[1]));
      case EK::kSlice: {
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
      case EK::kNeg:
      case EK::kPos: {
        const Value v = eval(*e.args[0]);
        if (v.is<Undefined>()) undefined_error(v);
        if (!is_number(v))
          fail(std::string("bad operand type for unary ") + (e.kind == EK::kNeg ? "-" : "+") +
               ": '" + type_name(v) + "'");
        if (e.kind == EK::kPos) return is_integral(v) ? Value(as_int(v)) : v;
        return is_integral(v) ? Value(checked(0, as_int(v), '-')) : Value(-v.as<double>());
      }
      case EK::kNot:
        return Value(!truthy(eval(*e.args[0])));
      case EK::kAnd: {
        Value a = eval(*e.args[0]);
        return truthy(a) ? eval(*e.args[1]) : a;
      }
      case EK::kOr: {
        Value a = eval(*e.args[0]);
        return truthy(a) ? a : eval(*e.args[1]);
      }
      case EK::kCond: {
        if (truthy(eval(*e.args[1]))) return eval(*e.args[0]);
        if (e.args[2]) return eval(*e.args[2]);
        return Value(Undefined{"the conditional expression had no else branch"});
      }
      case EK::kCompare: {
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
      case EK::kBinary:
        return binary(e.name, eval(*e.args[0]), eval(*e.args[1]));
      case EK::kFilter: {
        const Value operand = eval(*e.args[0]);
        return apply_filter(e.name, operand, eval_args(e, 1));
      }
      case EK::kTest: {
        const Value operand = eval(*e.args[0]);
        const bool r = apply_test(e.name, operand, eval_args(e, 1));
        return Value(e.negated ? !r : r);
      }
      case EK::kCall:
        return call(e);
    }
    fail("unknown expression");
  }

  Value binary(const std::string& op, const Value& a, const Value& b) {
    if (op == "~") return Value(str(a) + str(b));
    if (a.is<Undefined>()) undefined_error(a);
    if (b.is<Undefined>()) undefined_error(b);
    auto type_error = [&]() -> Value {
      fail("unsupported operand type(s) for " + op + ": '" + type_name(a) + "' and '" +
           type_name(b) + "'");
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

  Value get_attr(const Value& obj, const std::string& name) {
    if (obj.is<Undefined>()) undefined_error(obj);
    if (obj.is<DictPtr>()) {
      if (const Value* v = obj.as<DictPtr>()->find(name)) return *v;
    } else if (obj.is<NamespacePtr>()) {
      if (const Value* v = obj.as<NamespacePtr>()->attrs.find(name)) return *v;
    }
    return Value(
        Undefined{std::string("'") + type_name(obj) + " object' has no attribute '" + name + "'"});
  }

  Value get_item(const Value& obj, const Value& key) {
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

  // ---- calls: macros, global functions, methods ----

  Value call(const Expr& e) {
    const Expr& callee = *e.args[0];
    if (callee.kind == EK::kAttr) {
      const Value obj = eval(*callee.args[0]);
      return call_method(obj, callee.name, eval_args(e, 1));
    }
    if (callee.kind == EK::kName) {
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

  Value call_macro(const Node& m, const Args& args) {
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

  Value call_global(const std::string& name, const Args& a) {
    if (name == "raise_exception") {
      throw RenderError{a.get_str(0, "message", ""), {}, true};
    }
    if (name == "namespace" || name == "dict") {
      Dict d;
      if (!a.pos.empty()) {
        if (!a.pos[0].is<DictPtr>()) fail(name + "() takes a dict or keyword arguments");
        d = *a.pos[0].as<DictPtr>();
      }
      for (const auto& [k, v] : a.kw) d.set(k, v);
      if (name == "dict") return make_dict(std::move(d));
      auto ns = std::make_shared<Namespace>();
      ns->attrs = std::move(d);
      return Value(Value::Variant(std::move(ns)));
    }
    if (name == "range") {
      if (a.pos.empty() || a.pos.size() > 3) fail("range expected 1 to 3 arguments");
      for (const Value& v : a.pos)
        if (!is_integral(v)) fail("range() arguments must be integers");
      const int64_t start = a.pos.size() == 1 ? 0 : as_int(a.pos[0]);
      const int64_t stop = a.pos.size() == 1 ? as_int(a.pos[0]) : as_int(a.pos[1]);
      const int64_t step = a.pos.size() == 3 ? as_int(a.pos[2]) : 1;
      if (step == 0) fail("range() arg 3 must not be zero");
      List l;
      for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
        if (l.size() >= 100000) fail("range too large");  // the sandbox's MAX_RANGE
        l.emplace_back(i);
      }
      return Value(std::move(l));
    }
    if (name == "strftime_now") {
      // transformers: datetime.now().strftime(format), in local time.
      const std::string fmt = a.get_str(0, "format", "");
      const std::time_t now = std::time(nullptr);
      std::tm tm{};
      localtime_r(&now, &tm);
      char buf[256];
      const size_t n = std::strftime(buf, sizeof buf, fmt.c_str(), &tm);
      return Value(std::string(buf, n));
    }
    fail("'" + name + "' is undefined");
  }

  Value call_method(const Value& obj, const std::string& name, const Args& a) {
    if (obj.is<Undefined>()) undefined_error(obj);
    if (obj.is<std::string>()) {
      const std::string& s = obj.as<std::string>();
      auto chars = [&]() -> std::optional<std::string> {
        const Value* v = a.get(0, "chars");
        if (!v || v->is<None>()) return std::nullopt;
        return str(*v);
      };
      if (name == "strip") return Value(strip(s, chars(), true, true));
      if (name == "lstrip") return Value(strip(s, chars(), true, false));
      if (name == "rstrip") return Value(strip(s, chars(), false, true));
      if (name == "upper") return Value(upper(s));
      if (name == "lower") return Value(lower(s));
      if (name == "title") return Value(py_title(s));
      if (name == "capitalize") return Value(capitalize(s));
      if (name == "startswith" || name == "endswith") {
        const Value* p = a.get(0, "prefix");
        if (!p) fail(name + "() takes at least 1 argument");
        List options = p->is<ListPtr>() ? *p->as<ListPtr>() : List{*p};
        for (const Value& o : options) {
          if (!o.is<std::string>()) fail(name + "() argument must be str or a tuple of str");
          const std::string& x = o.as<std::string>();
          if (name == "startswith" ? s.starts_with(x) : s.ends_with(x)) return Value(true);
        }
        return Value(false);
      }
      if (name == "split") return Value(split(s, a));
      if (name == "replace")
        return Value(replace_all(s, a.get_str(0, "old", ""), a.get_str(1, "new", ""),
                                 a.get_int(2, "count", -1)));
      if (name == "find") {
        const size_t at = s.find(a.get_str(0, "sub", ""));
        return Value(at == std::string::npos
                         ? int64_t{-1}
                         : static_cast<int64_t>(decode(s.substr(0, at)).size()));
      }
      if (name == "count") {
        const std::string sub = a.get_str(0, "sub", "");
        if (sub.empty()) return Value(static_cast<int64_t>(decode(s).size() + 1));
        int64_t n = 0;
        for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size())) ++n;
        return Value(n);
      }
      if (name == "join") {
        const Value* seq = a.get(0, "iterable");
        if (!seq) fail("join() takes exactly one argument");
        std::string r;
        bool first = true;
        for (const Value& x : iterate(*seq)) {
          if (!x.is<std::string>())
            fail("sequence item: expected str instance, " + std::string(type_name(x)) + " found");
          if (!first) r += s;
          first = false;
          r += x.as<std::string>();
        }
        return Value(std::move(r));
      }
    } else if (obj.is<DictPtr>()) {
      const Dict& d = *obj.as<DictPtr>();
      if (name == "items") return dict_items(d);
      if (name == "keys") return Value(iterate(obj));
      if (name == "values") {
        List l;
        for (const auto& [k, v] : d.items) l.push_back(v);
        return Value(std::move(l));
      }
      if (name == "get") {
        const Value* k = a.get(0, "key");
        if (!k) fail("get expected at least 1 argument");
        if (k->is<std::string>())
          if (const Value* v = d.find(k->as<std::string>())) return *v;
        const Value* def = a.get(1, "default");
        return def ? *def : Value(None{});
      }
      if (const Value* v = d.find(name); v && v->is<Macro>())
        return call_macro(*v->as<Macro>().node, a);
    }
    fail("'" + std::string(type_name(obj)) + " object' has no method '" + name + "'");
  }

  static Value dict_items(const Dict& d) {
    List l;
    for (const auto& [k, v] : d.items) l.push_back(Value(List{Value(k), v}));
    return Value(std::move(l));
  }

  static List split(const std::string& s, const Args& a) {
    const Value* sepv = a.get(0, "sep");
    int64_t maxsplit = a.get_int(1, "maxsplit", -1);
    List out;
    if (!sepv || sepv->is<None>()) {
      // Runs of whitespace separate; leading and trailing whitespace is dropped.
      const std::u32string u = decode(s);
      size_t i = 0;
      while (true) {
        while (i < u.size() && is_py_space(u[i])) ++i;
        if (i >= u.size()) break;
        if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
          size_t e = u.size();
          while (e > i && is_py_space(u[e - 1])) --e;
          out.emplace_back(encode(std::u32string_view(u).substr(i, e - i)));
          break;
        }
        size_t j = i;
        while (j < u.size() && !is_py_space(u[j])) ++j;
        out.emplace_back(encode(std::u32string_view(u).substr(i, j - i)));
        i = j;
      }
      return out;
    }
    const std::string sep = str(*sepv);
    if (sep.empty()) fail("empty separator");
    size_t pos = 0;
    while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
      const size_t hit = s.find(sep, pos);
      if (hit == std::string::npos) break;
      out.emplace_back(s.substr(pos, hit - pos));
      pos = hit + sep.size();
    }
    out.emplace_back(s.substr(pos));
    return out;
  }

  // ---- filters ----

  // `a.b.c` against dict keys (and list indices), as jinja2's attribute= arguments.
  Value attr_path(const Value& v, const std::string& path) {
    Value cur = v;
    size_t pos = 0;
    while (pos <= path.size()) {
      const size_t dot = path.find('.', pos);
      const std::string part =
          path.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
      if (cur.is<Undefined>()) return cur;
      int64_t idx = 0;
      const auto r = std::from_chars(part.data(), part.data() + part.size(), idx);
      if (r.ec == std::errc() && r.ptr == part.data() + part.size() && cur.is<ListPtr>()) {
        cur = get_item(cur, Value(idx));
      } else {
        cur = get_attr(cur, part);
      }
      if (dot == std::string::npos) break;
      pos = dot + 1;
    }
    return cur;
  }

  Value apply_filter(const std::string& name, const Value& v, const Args& a) {
    if (name == "default" || name == "d") {
      const bool boolean = a.get_bool(1, "boolean", false);
      if (v.is<Undefined>() || (boolean && !truthy(v))) {
        const Value* d = a.get(0, "default_value");
        return d ? *d : Value("");
      }
      return v;
    }
    if (name == "length" || name == "count") return Value(length(v));
    if (name == "string") return Value(str(v));
    if (name == "safe") return v;
    if (name == "list") return Value(iterate(v));
    if (name == "tojson") {
      JsonStyle st;
      // transformers' signature: tojson(x, ensure_ascii, indent, separators, sort_keys).
      if (const Value* ind = a.get(1, "indent"); ind && !ind->is<None>()) {
        st.indent = is_integral(*ind)
                        ? std::string(static_cast<size_t>(std::max<int64_t>(0, as_int(*ind))), ' ')
                        : str(*ind);
        st.item_sep = ",";
      }
      if (const Value* sep = a.get(2, "separators");
          sep && sep->is<ListPtr>() && sep->as<ListPtr>()->size() == 2) {
        st.item_sep = str((*sep->as<ListPtr>())[0]);
        st.key_sep = str((*sep->as<ListPtr>())[1]);
      }
      st.ensure_ascii = a.get_bool(0, "ensure_ascii", false);
      st.sort_keys = a.get_bool(3, "sort_keys", false);
      std::string out;
      to_json(out, v, st, 0);
      return Value(std::move(out));
    }
    // Other filters treat an undefined value as Jinja's Undefined does: as ""
    // where a string is wanted and as empty where a sequence is.
    if (name == "trim") {
      std::optional<std::string> chars;
      if (const Value* c = a.get(0, "chars"); c && !c->is<None>()) chars = str(*c);
      return Value(strip(str(v), chars, true, true));
    }
    if (name == "upper") return Value(upper(str(v)));
    if (name == "lower") return Value(lower(str(v)));
    if (name == "capitalize") return Value(capitalize(str(v)));
    if (name == "title") return Value(jinja_title(str(v)));
    if (name == "replace")
      return Value(replace_all(str(v), a.get_str(0, "old", ""), a.get_str(1, "new", ""),
                               a.get_int(2, "count", -1)));
    if (name == "items") {
      if (v.is<Undefined>()) return Value(List{});
      if (!v.is<DictPtr>())
        fail("items filter needs a mapping, got '" + std::string(type_name(v)) + "'");
      return dict_items(*v.as<DictPtr>());
    }
    if (name == "join") {
      const std::string sep = a.get_str(0, "d", "");
      const Value* attr = a.get(1, "attribute");
      std::string r;
      bool first = true;
      for (const Value& x : iterate(v)) {
        if (!first) r += sep;
        first = false;
        r += str(attr ? attr_path(x, str(*attr)) : x);
      }
      return Value(std::move(r));
    }
    if (name == "first" || name == "last") {
      const List items = iterate(v);
      if (items.empty()) return Value(Undefined{"no " + name + " item, sequence was empty"});
      return name == "first" ? items.front() : items.back();
    }
    if (name == "reverse") {
      if (v.is<std::string>()) {
        std::u32string u = decode(v.as<std::string>());
        std::reverse(u.begin(), u.end());
        return Value(encode(u));
      }
      List l = iterate(v);
      std::reverse(l.begin(), l.end());
      return Value(std::move(l));
    }
    if (name == "selectattr" || name == "rejectattr" || name == "select" || name == "reject") {
      const bool by_attr = name.ends_with("attr");
      const bool keep_if = name.starts_with("select");
      const size_t test_at = by_attr ? 1 : 0;
      const std::string attr = by_attr ? a.get_str(0, "attr", "") : "";
      const std::string test = a.pos.size() > test_at ? str(a.pos[test_at]) : "";
      Args test_args;
      for (size_t i = test_at + 1; i < a.pos.size(); ++i) test_args.pos.push_back(a.pos[i]);
      List out;
      for (const Value& x : iterate(v)) {
        const Value subject = by_attr ? attr_path(x, attr) : x;
        const bool r = test.empty() ? truthy(subject) : apply_test(test, subject, test_args);
        if (r == keep_if) out.push_back(x);
      }
      return Value(std::move(out));
    }
    if (name == "map") {
      List out;
      if (const Value* attr = a.get(SIZE_MAX, "attribute")) {
        const Value* def = a.get(SIZE_MAX, "default");
        for (const Value& x : iterate(v)) {
          Value r = attr_path(x, str(*attr));
          out.push_back(r.is<Undefined>() && def ? *def : r);
        }
        return Value(std::move(out));
      }
      if (a.pos.empty()) fail("map needs a filter name or attribute=");
      Args rest;
      rest.pos.assign(a.pos.begin() + 1, a.pos.end());
      rest.kw = a.kw;
      for (const Value& x : iterate(v)) out.push_back(apply_filter(str(a.pos[0]), x, rest));
      return Value(std::move(out));
    }
    if (name == "sort" || name == "unique" || name == "min" || name == "max") {
      const bool reverse = name == "sort" && a.get_bool(0, "reverse", false);
      const bool case_sensitive = a.get_bool(name == "sort" ? 1 : 0, "case_sensitive", false);
      const Value* attr = a.get(name == "sort" ? 2 : 1, "attribute");
      auto key = [&](const Value& x) {
        Value k = attr ? attr_path(x, str(*attr)) : x;
        if (!case_sensitive && k.is<std::string>()) return Value(lower(k.as<std::string>()));
        return k;
      };
      List l = iterate(v);
      if (name == "unique") {
        List out, keys;
        for (const Value& x : l) {
          const Value k = key(x);
          if (std::none_of(keys.begin(), keys.end(), [&](const Value& y) { return equal(k, y); })) {
            keys.push_back(k);
            out.push_back(x);
          }
        }
        return Value(std::move(out));
      }
      std::stable_sort(l.begin(), l.end(), [&](const Value& x, const Value& y) {
        const int c = compare(key(x), key(y), "<");
        return reverse ? c > 0 : c < 0;
      });
      if (name == "sort") return Value(std::move(l));
      if (l.empty()) return Value(Undefined{"no " + name + " item, sequence was empty"});
      return name == "min" ? l.front() : l.back();
    }
    if (name == "sum") {
      const Value* attr = a.get(0, "attribute");
      Value total = a.get(1, "start") ? *a.get(1, "start") : Value(int64_t{0});
      for (const Value& x : iterate(v))
        total = binary("+", total, attr ? attr_path(x, str(*attr)) : x);
      return total;
    }
    if (name == "abs") {
      if (!is_number(v)) fail("bad operand type for abs(): '" + std::string(type_name(v)) + "'");
      return is_integral(v) ? Value(std::abs(as_int(v))) : Value(std::fabs(v.as<double>()));
    }
    if (name == "int") {
      const Value* def = a.get(0, "default");
      if (is_number(v))
        return Value(is_integral(v) ? as_int(v) : static_cast<int64_t>(v.as<double>()));
      const std::string s = strip(str(v), std::nullopt, true, true);
      int64_t i = 0;
      const auto r = std::from_chars(s.data(), s.data() + s.size(), i,
                                     static_cast<int>(a.get_int(1, "base", 10)));
      if (r.ec == std::errc() && r.ptr == s.data() + s.size()) return Value(i);
      char* end = nullptr;
      const double d = std::strtod(s.c_str(), &end);
      if (!s.empty() && end == s.c_str() + s.size()) return Value(static_cast<int64_t>(d));
      return def ? *def : Value(int64_t{0});
    }
    if (name == "float") {
      const Value* def = a.get(0, "default");
      if (is_number(v)) return Value(as_double(v));
      const std::string s = strip(str(v), std::nullopt, true, true);
      char* end = nullptr;
      const double d = std::strtod(s.c_str(), &end);
      if (!s.empty() && end == s.c_str() + s.size()) return Value(d);
      return def ? *def : Value(0.0);
    }
    if (name == "round") {
      if (!is_number(v)) fail("round needs a number");
      const double p = std::pow(10.0, static_cast<double>(a.get_int(0, "precision", 0)));
      const std::string method = a.get_str(1, "method", "common");
      const double x = as_double(v) * p;
      const double r = method == "ceil"    ? std::ceil(x)
                       : method == "floor" ? std::floor(x)
                                           : std::round(x);
      return Value(r / p);
    }
    if (name == "indent") {
      const Value* w = a.get(0, "width");
      const std::string pad =
          !w ? "    "
          : is_integral(*w)
              ? std::string(static_cast<size_t>(std::max<int64_t>(0, as_int(*w))), ' ')
              : str(*w);
      const bool first = a.get_bool(1, "first", false);
      const bool blank = a.get_bool(2, "blank", false);
      const std::string s = str(v);
      std::string out;
      size_t pos = 0;
      bool is_first = true;
      while (true) {
        const size_t nl = s.find('\n', pos);
        const std::string line =
            s.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
        if ((!is_first || first) && (blank || !strip(line, std::nullopt, true, true).empty()))
          out += pad;
        out += line;
        if (nl == std::string::npos) break;
        out += '\n';
        pos = nl + 1;
        is_first = false;
      }
      return Value(std::move(out));
    }
    if (name == "escape" || name == "e") {
      std::string out;
      for (char c : str(v)) {
        switch (c) {
          case '&':
            out += "&amp;";
            break;
          case '<':
            out += "&lt;";
            break;
          case '>':
            out += "&gt;";
            break;
          case '"':
            out += "&#34;";
            break;
          case '\'':
            out += "&#39;";
            break;
          default:
            out += c;
        }
      }
      return Value(std::move(out));
    }
    if (name == "dictsort") {
      if (!v.is<DictPtr>()) fail("dictsort needs a mapping");
      const bool case_sensitive = a.get_bool(0, "case_sensitive", false);
      const bool by_value = a.get_str(1, "by", "key") == "value";
      const bool reverse = a.get_bool(2, "reverse", false);
      std::vector<std::pair<std::string, Value>> items = v.as<DictPtr>()->items;
      auto key = [&](const std::pair<std::string, Value>& kv) {
        Value k = by_value ? kv.second : Value(kv.first);
        if (!case_sensitive && k.is<std::string>()) return Value(lower(k.as<std::string>()));
        return k;
      };
      std::stable_sort(items.begin(), items.end(), [&](const auto& x, const auto& y) {
        const int c = compare(key(x), key(y), "<");
        return reverse ? c > 0 : c < 0;
      });
      List l;
      for (auto& [k, x] : items) l.push_back(Value(List{Value(k), x}));
      return Value(std::move(l));
    }
    fail("no filter named '" + name + "'");
  }

  bool apply_test(const std::string& name, const Value& v, const Args& a) {
    if (name == "defined") return !v.is<Undefined>();
    if (name == "undefined") return v.is<Undefined>();
    if (name == "none") return v.is<None>();
    if (name == "string") return v.is<std::string>();
    if (name == "number") return is_number(v);
    if (name == "integer") return v.is<int64_t>();
    if (name == "float") return v.is<double>();
    if (name == "boolean") return v.is<bool>();
    if (name == "true") return v.is<bool>() && v.as<bool>();
    if (name == "false") return v.is<bool>() && !v.as<bool>();
    if (name == "mapping") return v.is<DictPtr>();
    if (name == "iterable")
      return v.is<ListPtr>() || v.is<DictPtr>() || v.is<std::string>() || v.is<Undefined>();
    if (name == "sequence") return v.is<ListPtr>() || v.is<DictPtr>() || v.is<std::string>();
    if (name == "callable") return v.is<Macro>();
    if (name == "lower")
      return v.is<std::string>() && lower(v.as<std::string>()) == v.as<std::string>();
    if (name == "upper")
      return v.is<std::string>() && upper(v.as<std::string>()) == v.as<std::string>();
    if (name == "odd" || name == "even") {
      if (!is_integral(v)) fail(name + " test needs an integer");
      const bool odd = (as_int(v) % 2) != 0;
      return name == "odd" ? odd : !odd;
    }
    if (name == "divisibleby") {
      const int64_t n = a.get_int(0, "num", 0);
      if (!is_integral(v) || n == 0) fail("divisibleby needs integers and a non-zero divisor");
      return as_int(v) % n == 0;
    }
    const Value* other = a.get(0, "other");
    if (name == "eq" || name == "equalto" || name == "==") return other && equal(v, *other);
    if (name == "ne" || name == "!=") return !other || !equal(v, *other);
    if (name == "sameas") {
      if (!other) return false;
      if (v.v.index() != other->v.index()) return false;
      return equal(v, *other);
    }
    if (name == "in") {
      if (!other) fail("in test needs a sequence");
      return contains(*other, v);
    }
    if (name == "lt" || name == "<" || name == "le" || name == "<=" || name == "gt" ||
        name == ">" || name == "ge" || name == ">=" || name == "lessthan" ||
        name == "greaterthan") {
      if (!other) fail(name + " test needs an argument");
      const int c = compare(v, *other, name);
      if (name == "lt" || name == "<" || name == "lessthan") return c < 0;
      if (name == "le" || name == "<=") return c <= 0;
      if (name == "gt" || name == ">" || name == "greaterthan") return c > 0;
      return c >= 0;
    }
    if (name == "escaped") return false;
    fail("no test named '" + name + "'");
  }

  const ChatTemplate::Program& program_;
  std::vector<Scope> scopes_;
  size_t floor_ = 0;  // lowest scope visible besides the globals (raised inside macros)
};

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
