// Filters, tests, string and dict methods and global functions: the
// Interpreter members that implement what templates call by name.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <map>
#include <optional>
#include <string_view>
#include <unordered_map>

#include "tokenizer/jinja_interpreter.hpp"

namespace waypoint::jinja {

Value Interpreter::call_global(const std::string& name, const Args& a) {
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

Value Interpreter::call_method(const Value& obj, const std::string& name, const Args& a) {
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
      return Value(at == std::string::npos ? int64_t{-1}
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

Value Interpreter::dict_items(const Dict& d) {
  List l;
  for (const auto& [k, v] : d.items) l.push_back(Value(List{Value(k), v}));
  return Value(std::move(l));
}

List Interpreter::split(const std::string& s, const Args& a) {
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

Value Interpreter::attr_path(const Value& v, const std::string& path) {
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

// Each filter is one function, found by name in the table below; aliases
// (d, count, e) and families that differ only in a flag (select/reject and
// their attr forms; sort/unique/min/max) share one, which reads `name`.
struct Filters {
  using Fn = Value (*)(Interpreter& in, const std::string& name, const Value& v, const Args& a);

  static Value default_value(Interpreter&, const std::string&, const Value& v, const Args& a) {
    const bool boolean = a.get_bool(1, "boolean", false);
    if (v.is<Undefined>() || (boolean && !truthy(v))) {
      const Value* d = a.get(0, "default_value");
      return d ? *d : Value("");
    }
    return v;
  }

  static Value tojson(Interpreter&, const std::string&, const Value& v, const Args& a) {
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

  // The filters below treat an undefined value as Jinja's Undefined does: as
  // "" where a string is wanted and as empty where a sequence is.
  static Value trim(Interpreter&, const std::string&, const Value& v, const Args& a) {
    std::optional<std::string> chars;
    if (const Value* c = a.get(0, "chars"); c && !c->is<None>()) chars = str(*c);
    return Value(strip(str(v), chars, true, true));
  }

  static Value replace(Interpreter&, const std::string&, const Value& v, const Args& a) {
    return Value(replace_all(str(v), a.get_str(0, "old", ""), a.get_str(1, "new", ""),
                             a.get_int(2, "count", -1)));
  }

  static Value items(Interpreter&, const std::string&, const Value& v, const Args&) {
    if (v.is<Undefined>()) return Value(List{});
    if (!v.is<DictPtr>())
      fail("items filter needs a mapping, got '" + std::string(type_name(v)) + "'");
    return Interpreter::dict_items(*v.as<DictPtr>());
  }

  static Value join(Interpreter& in, const std::string&, const Value& v, const Args& a) {
    const std::string sep = a.get_str(0, "d", "");
    const Value* attr = a.get(1, "attribute");
    std::string r;
    bool first = true;
    for (const Value& x : iterate(v)) {
      if (!first) r += sep;
      first = false;
      r += str(attr ? in.attr_path(x, str(*attr)) : x);
    }
    return Value(std::move(r));
  }

  static Value first_or_last(Interpreter&, const std::string& name, const Value& v, const Args&) {
    const List items = iterate(v);
    if (items.empty()) return Value(Undefined{"no " + name + " item, sequence was empty"});
    return name == "first" ? items.front() : items.back();
  }

  static Value reverse(Interpreter&, const std::string&, const Value& v, const Args&) {
    if (v.is<std::string>()) {
      std::u32string u = decode(v.as<std::string>());
      std::reverse(u.begin(), u.end());
      return Value(encode(u));
    }
    List l = iterate(v);
    std::reverse(l.begin(), l.end());
    return Value(std::move(l));
  }

  // select, reject, selectattr, rejectattr.
  static Value select(Interpreter& in, const std::string& name, const Value& v, const Args& a) {
    const bool by_attr = name.ends_with("attr");
    const bool keep_if = name.starts_with("select");
    const size_t test_at = by_attr ? 1 : 0;
    const std::string attr = by_attr ? a.get_str(0, "attr", "") : "";
    const std::string test = a.pos.size() > test_at ? str(a.pos[test_at]) : "";
    Args test_args;
    for (size_t i = test_at + 1; i < a.pos.size(); ++i) test_args.pos.push_back(a.pos[i]);
    List out;
    for (const Value& x : iterate(v)) {
      const Value subject = by_attr ? in.attr_path(x, attr) : x;
      const bool r = test.empty() ? truthy(subject) : in.apply_test(test, subject, test_args);
      if (r == keep_if) out.push_back(x);
    }
    return Value(std::move(out));
  }

  static Value map(Interpreter& in, const std::string&, const Value& v, const Args& a) {
    List out;
    if (const Value* attr = a.get(SIZE_MAX, "attribute")) {
      const Value* def = a.get(SIZE_MAX, "default");
      for (const Value& x : iterate(v)) {
        Value r = in.attr_path(x, str(*attr));
        out.push_back(r.is<Undefined>() && def ? *def : r);
      }
      return Value(std::move(out));
    }
    if (a.pos.empty()) fail("map needs a filter name or attribute=");
    Args rest;
    rest.pos.assign(a.pos.begin() + 1, a.pos.end());
    rest.kw = a.kw;
    for (const Value& x : iterate(v)) out.push_back(in.apply_filter(str(a.pos[0]), x, rest));
    return Value(std::move(out));
  }

  // sort, unique, min, max: one notion of a key (attribute=, case_sensitive).
  static Value ordered(Interpreter& in, const std::string& name, const Value& v, const Args& a) {
    const bool reverse = name == "sort" && a.get_bool(0, "reverse", false);
    const bool case_sensitive = a.get_bool(name == "sort" ? 1 : 0, "case_sensitive", false);
    const Value* attr = a.get(name == "sort" ? 2 : 1, "attribute");
    auto key = [&](const Value& x) {
      Value k = attr ? in.attr_path(x, str(*attr)) : x;
      if (!case_sensitive && k.is<std::string>()) return Value(jinja::lower(k.as<std::string>()));
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

  static Value sum(Interpreter& in, const std::string&, const Value& v, const Args& a) {
    const Value* attr = a.get(0, "attribute");
    Value total = a.get(1, "start") ? *a.get(1, "start") : Value(int64_t{0});
    for (const Value& x : iterate(v))
      total = in.binary("+", total, attr ? in.attr_path(x, str(*attr)) : x);
    return total;
  }

  static Value abs(Interpreter&, const std::string&, const Value& v, const Args&) {
    if (!is_number(v)) fail("bad operand type for abs(): '" + std::string(type_name(v)) + "'");
    return is_integral(v) ? Value(std::abs(as_int(v))) : Value(std::fabs(v.as<double>()));
  }

  static Value to_int(Interpreter&, const std::string&, const Value& v, const Args& a) {
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

  static Value to_float(Interpreter&, const std::string&, const Value& v, const Args& a) {
    const Value* def = a.get(0, "default");
    if (is_number(v)) return Value(as_double(v));
    const std::string s = strip(str(v), std::nullopt, true, true);
    char* end = nullptr;
    const double d = std::strtod(s.c_str(), &end);
    if (!s.empty() && end == s.c_str() + s.size()) return Value(d);
    return def ? *def : Value(0.0);
  }

  static Value round(Interpreter&, const std::string&, const Value& v, const Args& a) {
    if (!is_number(v)) fail("round needs a number");
    const double p = std::pow(10.0, static_cast<double>(a.get_int(0, "precision", 0)));
    const std::string method = a.get_str(1, "method", "common");
    const double x = as_double(v) * p;
    const double r = method == "ceil"    ? std::ceil(x)
                     : method == "floor" ? std::floor(x)
                                         : std::round(x);
    return Value(r / p);
  }

  static Value indent(Interpreter&, const std::string&, const Value& v, const Args& a) {
    const Value* w = a.get(0, "width");
    const std::string pad =
        !w                ? "    "
        : is_integral(*w) ? std::string(static_cast<size_t>(std::max<int64_t>(0, as_int(*w))), ' ')
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

  static Value escape(Interpreter&, const std::string&, const Value& v, const Args&) {
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

  static Value dictsort(Interpreter&, const std::string&, const Value& v, const Args& a) {
    if (!v.is<DictPtr>()) fail("dictsort needs a mapping");
    const bool case_sensitive = a.get_bool(0, "case_sensitive", false);
    const bool by_value = a.get_str(1, "by", "key") == "value";
    const bool reverse = a.get_bool(2, "reverse", false);
    std::vector<std::pair<std::string, Value>> items = v.as<DictPtr>()->items;
    auto key = [&](const std::pair<std::string, Value>& kv) {
      Value k = by_value ? kv.second : Value(kv.first);
      if (!case_sensitive && k.is<std::string>()) return Value(jinja::lower(k.as<std::string>()));
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

  // Filters of one line: a string function, or the value as it is.
  static Value length(Interpreter&, const std::string&, const Value& v, const Args&) {
    return Value(jinja::length(v));
  }
  static Value string(Interpreter&, const std::string&, const Value& v, const Args&) {
    return Value(str(v));
  }
  static Value safe(Interpreter&, const std::string&, const Value& v, const Args&) { return v; }
  static Value list(Interpreter&, const std::string&, const Value& v, const Args&) {
    return Value(iterate(v));
  }
  static Value upper(Interpreter&, const std::string&, const Value& v, const Args&) {
    return Value(jinja::upper(str(v)));
  }
  static Value lower(Interpreter&, const std::string&, const Value& v, const Args&) {
    return Value(jinja::lower(str(v)));
  }
  static Value capitalize(Interpreter&, const std::string&, const Value& v, const Args&) {
    return Value(jinja::capitalize(str(v)));
  }
  static Value title(Interpreter&, const std::string&, const Value& v, const Args&) {
    return Value(jinja_title(str(v)));
  }

  static const std::unordered_map<std::string_view, Fn>& table() {
    static const std::unordered_map<std::string_view, Fn> filters = {
        {"abs", abs},
        {"capitalize", capitalize},
        {"count", length},
        {"d", default_value},
        {"default", default_value},
        {"dictsort", dictsort},
        {"e", escape},
        {"escape", escape},
        {"first", first_or_last},
        {"float", to_float},
        {"indent", indent},
        {"int", to_int},
        {"items", items},
        {"join", join},
        {"last", first_or_last},
        {"length", length},
        {"list", list},
        {"lower", lower},
        {"map", map},
        {"max", ordered},
        {"min", ordered},
        {"reject", select},
        {"rejectattr", select},
        {"replace", replace},
        {"reverse", reverse},
        {"round", round},
        {"safe", safe},
        {"select", select},
        {"selectattr", select},
        {"sort", ordered},
        {"string", string},
        {"sum", sum},
        {"title", title},
        {"tojson", tojson},
        {"trim", trim},
        {"unique", ordered},
        {"upper", upper},
    };
    return filters;
  }
};

Value Interpreter::apply_filter(const std::string& name, const Value& v, const Args& a) {
  const auto& filters = Filters::table();
  const auto it = filters.find(name);
  if (it == filters.end()) fail("no filter named '" + name + "'");
  return it->second(*this, name, v, a);
}

bool Interpreter::apply_test(const std::string& name, const Value& v, const Args& a) {
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
  if (name == "lt" || name == "<" || name == "le" || name == "<=" || name == "gt" || name == ">" ||
      name == "ge" || name == ">=" || name == "lessthan" || name == "greaterthan") {
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

}  // namespace waypoint::jinja
