#include "tokenizer/token_decoder.hpp"

#include <nlohmann/json.hpp>

#include "tokenizer/byte_level.hpp"

namespace waypoint {
namespace {

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  if (from.empty()) return;
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) {
    s.replace(pos, from.size(), to);
  }
}

// "<0x41>" -> 0x41; -1 for anything else.
int byte_token(const std::string& t) {
  if (t.size() != 6 || !t.starts_with("<0x") || t[5] != '>') return -1;
  int v = 0;
  for (size_t i = 3; i < 5; ++i) {
    const char c = t[i];
    const int d = c >= '0' && c <= '9'   ? c - '0'
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10
                  : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                         : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

// Strip removes up to n leading/trailing copies of a (single-character) string.
void strip(std::string& s, const std::string& content, int start, int stop) {
  if (content.empty()) return;
  size_t b = 0;
  for (int i = 0; i < start && s.compare(b, content.size(), content) == 0; ++i) {
    b += content.size();
  }
  size_t e = s.size();
  for (int i = 0; i < stop && e >= b + content.size() &&
                  s.compare(e - content.size(), content.size(), content) == 0;
       ++i) {
    e -= content.size();
  }
  s = s.substr(b, e - b);
}

}  // namespace

Result<void> TokenDecoder::add(const nlohmann::json& j, std::vector<Step>& steps) {
  const std::string type = j.value("type", "");
  if (type == "Sequence") {
    for (const auto& d : j.at("decoders")) {
      if (Result<void> r = add(d, steps); !r) return r;
    }
    return {};
  }
  if (type == "ByteLevel") {
    steps.push_back({Kind::kByteLevel, {}, {}});
  } else if (type == "Metaspace") {
    const std::string scheme =
        j.value("prepend_scheme", j.value("add_prefix_space", true) ? "always" : "never");
    steps.push_back(
        {Kind::kMetaspace, j.value("replacement", "\u2581"), {}, scheme == "never" ? 0 : 1, 0});
  } else if (type == "Replace") {
    const auto& pattern = j.at("pattern");
    if (!pattern.contains("String")) return Error{"unsupported Replace decoder pattern"};
    steps.push_back({Kind::kReplace, pattern.at("String").get<std::string>(),
                     j.at("content").get<std::string>()});
  } else if (type == "ByteFallback") {
    steps.push_back({Kind::kByteFallback, {}, {}});
  } else if (type == "Fuse") {
    steps.push_back({Kind::kFuse, {}, {}});
  } else if (type == "Strip") {
    steps.push_back({Kind::kStrip,
                     j.at("content").get<std::string>(),
                     {},
                     j.value("start", 0),
                     j.value("stop", 0)});
  } else {
    return Error{"unsupported decoder type \"" + type + "\""};
  }
  return {};
}

Result<TokenDecoder> TokenDecoder::from_json(const nlohmann::json& j) {
  TokenDecoder d;
  if (j.is_null()) {
    d.join_with_space_ = true;
    return d;
  }
  if (Result<void> r = add(j, d.steps_); !r) return r.error();
  return d;
}

std::string TokenDecoder::decode(std::vector<std::string> tokens) const {
  for (const Step& step : steps_) {
    switch (step.kind) {
      case Kind::kByteLevel: {
        // HF's ByteLevel decoder fuses everything into one string.
        std::string bytes;
        for (const std::string& t : tokens) byte_level_decode(t, bytes);
        tokens.assign(1, std::move(bytes));
        break;
      }
      case Kind::kMetaspace:
        for (size_t i = 0; i < tokens.size(); ++i) {
          replace_all(tokens[i], step.a, " ");
          if (i == 0 && step.start == 1 && tokens[0].starts_with(' ')) tokens[0].erase(0, 1);
        }
        break;
      case Kind::kReplace:
        for (std::string& t : tokens) replace_all(t, step.a, step.b);
        break;
      case Kind::kByteFallback:
        for (std::string& t : tokens) {
          if (const int b = byte_token(t); b >= 0) t.assign(1, char(b));
        }
        break;
      case Kind::kFuse: {
        std::string all;
        for (const std::string& t : tokens) all += t;
        tokens.assign(1, std::move(all));
        break;
      }
      case Kind::kStrip:
        for (std::string& t : tokens) strip(t, step.a, step.start, step.stop);
        break;
    }
  }
  std::string out;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (join_with_space_ && i > 0) out.push_back(' ');
    out += tokens[i];
  }
  return out;
}

}  // namespace waypoint
