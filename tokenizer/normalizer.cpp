#include "tokenizer/normalizer.hpp"

#include <utf8proc.h>

#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>

namespace waypoint {
namespace {

struct FreeDeleter {
  void operator()(utf8proc_uint8_t* p) const { std::free(p); }
};

std::string unicode_form(std::string_view text, int options) {
  utf8proc_uint8_t* raw = nullptr;
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                   utf8proc_ssize_t(text.size()), &raw, utf8proc_option_t(options));
  std::unique_ptr<utf8proc_uint8_t, FreeDeleter> owned(raw);
  // Input is valid UTF-8, so failure means out of memory; leaving the text
  // unnormalized is better than failing the request.
  if (n < 0) return std::string(text);
  return std::string(reinterpret_cast<const char*>(raw), size_t(n));
}

std::string lowercase(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  utf8proc_ssize_t i = 0;
  const auto n = utf8proc_ssize_t(text.size());
  while (i < n) {
    utf8proc_int32_t cp = 0;
    const utf8proc_ssize_t len = utf8proc_iterate(p + i, n - i, &cp);
    if (len <= 0) break;
    utf8proc_uint8_t buf[4];
    const utf8proc_ssize_t m = utf8proc_encode_char(utf8proc_tolower(cp), buf);
    out.append(reinterpret_cast<const char*>(buf), size_t(m));
    i += len;
  }
  return out;
}

std::string replace_all(std::string_view text, std::string_view from, std::string_view to) {
  if (from.empty()) return std::string(text);
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  for (size_t hit; (hit = text.find(from, pos)) != std::string_view::npos;
       pos = hit + from.size()) {
    out.append(text.substr(pos, hit - pos));
    out.append(to);
  }
  out.append(text.substr(pos));
  return out;
}

}  // namespace

Result<void> Normalizer::add(const nlohmann::json& j, std::vector<Step>& steps) {
  const std::string type = j.value("type", "");
  if (type == "Sequence") {
    for (const auto& n : j.at("normalizers")) {
      if (Result<void> r = add(n, steps); !r) return r;
    }
    return {};
  }
  if (type == "NFC") {
    steps.push_back({Kind::kUnicodeForm, UTF8PROC_STABLE | UTF8PROC_COMPOSE, {}, {}});
  } else if (type == "NFD") {
    steps.push_back({Kind::kUnicodeForm, UTF8PROC_STABLE | UTF8PROC_DECOMPOSE, {}, {}});
  } else if (type == "NFKC") {
    steps.push_back(
        {Kind::kUnicodeForm, UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT, {}, {}});
  } else if (type == "NFKD") {
    steps.push_back(
        {Kind::kUnicodeForm, UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT, {}, {}});
  } else if (type == "Lowercase") {
    steps.push_back({Kind::kLowercase, 0, {}, {}});
  } else if (type == "Prepend") {
    steps.push_back({Kind::kPrepend, 0, j.at("prepend").get<std::string>(), {}});
  } else if (type == "Replace") {
    const auto& pattern = j.at("pattern");
    if (!pattern.contains("String")) return Error{"unsupported Replace normalizer pattern"};
    steps.push_back({Kind::kReplace, 0, pattern.at("String").get<std::string>(),
                     j.at("content").get<std::string>()});
  } else {
    return Error{"unsupported normalizer type \"" + type + "\""};
  }
  return {};
}

Result<Normalizer> Normalizer::from_json(const nlohmann::json& j) {
  Normalizer n;
  if (j.is_null()) return n;
  if (Result<void> r = add(j, n.steps_); !r) return r.error();
  return n;
}

std::string Normalizer::normalize(std::string_view text) const {
  std::string s(text);
  for (const Step& step : steps_) {
    switch (step.kind) {
      case Kind::kUnicodeForm:
        s = unicode_form(s, step.utf8proc_options);
        break;
      case Kind::kLowercase:
        s = lowercase(s);
        break;
      case Kind::kPrepend:
        // HF prepends only to non-empty text, so an empty stretch stays empty.
        if (!s.empty()) s.insert(0, step.a);
        break;
      case Kind::kReplace:
        s = replace_all(s, step.a, step.b);
        break;
    }
  }
  return s;
}

}  // namespace waypoint
