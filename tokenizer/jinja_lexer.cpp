#include "tokenizer/jinja_lexer.hpp"

#include <cctype>
#include <charconv>
#include <string_view>

#include "tokenizer/jinja_value.hpp"

namespace waypoint::jinja {
namespace {

bool is_ident_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool is_ws(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

}  // namespace

std::vector<Token> Lexer::run() {
  size_t pos = 0;
  const size_t n = s_.size();
  while (pos <= n) {
    size_t tag = find_tag(pos);
    std::string_view text(s_.data() + pos, (tag == std::string::npos ? n : tag) - pos);
    if (tag == std::string::npos) {
      if (!text.empty()) out_.push_back({TokenKind::kText, std::string(text), pos});
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
    if (!text.empty()) out_.push_back({TokenKind::kText, std::string(text), pos});
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
  out_.push_back({TokenKind::kEnd, "", n});
  return std::move(out_);
}

size_t Lexer::find_tag(size_t from) const {
  for (size_t p = s_.find('{', from); p != std::string::npos; p = s_.find('{', p + 1)) {
    if (p + 1 < s_.size() && (s_[p + 1] == '{' || s_[p + 1] == '%' || s_[p + 1] == '#')) return p;
  }
  return std::string::npos;
}

size_t Lexer::lex_tag(size_t p, bool is_var, size_t open_at, char& close_mod) {
  out_.push_back({is_var ? TokenKind::kVarOpen : TokenKind::kBlockOpen, "", open_at});
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
          out_.push_back({is_var ? TokenKind::kVarClose : TokenKind::kBlockClose, "", p});
          close_mod = m;
          return p + 3;
        }
      }
      if (rest.substr(0, 2) == close) {
        out_.push_back({is_var ? TokenKind::kVarClose : TokenKind::kBlockClose, "", p});
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
      out_.push_back({TokenKind::kName, s_.substr(p, e - p), p});
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
      out_.push_back({TokenKind::kOp, op, p});
      p += op.size();
    }
  }
}

size_t Lexer::lex_string(size_t p) {
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
  out_.push_back({TokenKind::kString, std::move(v), start});
  return p + 1;
}

size_t Lexer::lex_number(size_t p) {
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
  Token t{is_float ? TokenKind::kFloat : TokenKind::kInt, text, start};
  if (is_float) {
    t.f = std::strtod(text.c_str(), nullptr);
  } else {
    auto r = std::from_chars(text.data(), text.data() + text.size(), t.i);
    if (r.ec != std::errc()) throw SyntaxError{"integer literal too large", start};
  }
  out_.push_back(std::move(t));
  return p;
}

}  // namespace waypoint::jinja
