#include "tokenizer/jinja_value.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>

#include <utf8proc.h>

namespace waypoint::jinja {

Value make_dict(Dict d) {
  return Value(Value::Variant(std::make_shared<const Dict>(std::move(d))));
}

void fail(std::string message) { throw RenderError{std::move(message), {}, false}; }

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
}  // namespace waypoint::jinja
