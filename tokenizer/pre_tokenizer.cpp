#include "tokenizer/pre_tokenizer.hpp"

#include <nlohmann/json.hpp>
#include <utility>

#include "tokenizer/byte_level.hpp"

namespace waypoint {
namespace {

// GPT-2's pattern, used by a ByteLevel pre-tokenizer with use_regex (the default).
constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

std::string replace_spaces(std::string_view text, std::string_view with) {
  std::string out;
  out.reserve(text.size() + text.size() / 4);
  for (const char c : text) {
    if (c == ' ') {
      out.append(with);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

Result<void> PreTokenizer::add(const nlohmann::json& j, std::vector<Step>& steps) {
  const std::string type = j.value("type", "");
  if (type == "Sequence") {
    for (const auto& p : j.at("pretokenizers")) {
      if (Result<void> r = add(p, steps); !r) return r;
    }
    return {};
  }
  Step step{};
  if (type == "Split") {
    step.kind = Step::Kind::kSplit;
    const auto& pattern = j.at("pattern");
    const bool literal = pattern.contains("String");
    const std::string text = pattern.at(literal ? "String" : "Regex").get<std::string>();
    Result<Regex> re = Regex::compile(text, literal);
    if (!re) return Error{"Split pre-tokenizer: " + re.error().message};
    step.regex.push_back(std::move(re).value());
    const std::string behavior = j.at("behavior").get<std::string>();
    if (behavior == "Removed") {
      step.behavior = Behavior::kRemoved;
    } else if (behavior == "Isolated") {
      step.behavior = Behavior::kIsolated;
    } else if (behavior == "MergedWithPrevious") {
      step.behavior = Behavior::kMergedWithPrevious;
    } else if (behavior == "MergedWithNext") {
      step.behavior = Behavior::kMergedWithNext;
    } else if (behavior == "Contiguous") {
      step.behavior = Behavior::kContiguous;
    } else {
      return Error{"unsupported Split behavior \"" + behavior + "\""};
    }
    step.invert = j.value("invert", false);
  } else if (type == "ByteLevel") {
    step.kind = Step::Kind::kByteLevel;
    step.add_prefix_space = j.value("add_prefix_space", false);
    if (j.value("use_regex", true)) {
      Result<Regex> re = Regex::compile(kGpt2Pattern, false);
      if (!re) return re.error();
      step.regex.push_back(std::move(re).value());
    }
  } else if (type == "Metaspace") {
    step.kind = Step::Kind::kMetaspace;
    step.replacement = j.value("replacement", "\u2581");
    // Older files say add_prefix_space, newer ones prepend_scheme.
    const std::string scheme =
        j.value("prepend_scheme", j.value("add_prefix_space", true) ? "always" : "never");
    step.prepend = scheme == "first"   ? Prepend::kFirst
                   : scheme == "never" ? Prepend::kNever
                                       : Prepend::kAlways;
    step.metaspace_split = j.value("split", true);
  } else {
    return Error{"unsupported pre_tokenizer type \"" + type + "\""};
  }
  steps.push_back(std::move(step));
  return {};
}

Result<PreTokenizer> PreTokenizer::from_json(const nlohmann::json& j) {
  PreTokenizer p;
  if (j.is_null()) return p;
  if (Result<void> r = add(j, p.steps_); !r) return r.error();
  return p;
}

void PreTokenizer::split_by(const Regex& re, Behavior behavior, bool invert, std::string_view piece,
                            std::vector<std::string>& out) {
  // The piece as alternating spans, each flagged as delimiter (a match, or a
  // non-match when inverted) or not, as HF's NormalizedString::split sees it.
  std::vector<std::pair<std::string_view, bool>> spans;
  size_t pos = 0;
  for (const auto& [b, e] : re.find_all(piece)) {
    if (b > pos) spans.emplace_back(piece.substr(pos, b - pos), invert);
    spans.emplace_back(piece.substr(b, e - b), !invert);
    pos = e;
  }
  if (pos < piece.size()) spans.emplace_back(piece.substr(pos), invert);

  const size_t first = out.size();
  bool prev_was_delim = false;
  bool carry_to_next = false;  // kMergedWithNext: a delimiter waiting for its piece
  for (const auto& [text, delim] : spans) {
    switch (behavior) {
      case Behavior::kRemoved:
        if (!delim) out.emplace_back(text);
        break;
      case Behavior::kIsolated:
        out.emplace_back(text);
        break;
      case Behavior::kContiguous:
        if (delim && prev_was_delim && out.size() > first) {
          out.back().append(text);
        } else {
          out.emplace_back(text);
        }
        break;
      case Behavior::kMergedWithPrevious:
        if (delim && !prev_was_delim && out.size() > first) {
          out.back().append(text);
        } else {
          out.emplace_back(text);
        }
        break;
      case Behavior::kMergedWithNext:
        if (carry_to_next) {
          out.back().append(text);
        } else {
          out.emplace_back(text);
        }
        carry_to_next = delim;
        break;
    }
    prev_was_delim = delim;
  }
}

std::vector<std::string> PreTokenizer::split(std::string_view text, bool at_text_start) const {
  std::vector<std::string> pieces{std::string(text)};
  for (const Step& step : steps_) {
    std::vector<std::string> next;
    next.reserve(pieces.size());
    for (size_t i = 0; i < pieces.size(); ++i) {
      const std::string& piece = pieces[i];
      switch (step.kind) {
        case Step::Kind::kSplit:
          split_by(step.regex.front(), step.behavior, step.invert, piece, next);
          break;
        case Step::Kind::kByteLevel: {
          std::string spaced;
          if (step.add_prefix_space && !piece.starts_with(' ')) spaced = " ";
          spaced += piece;
          std::vector<std::string> parts;
          if (step.regex.empty()) {
            parts.push_back(std::move(spaced));
          } else {
            split_by(step.regex.front(), Behavior::kIsolated, false, spaced, parts);
          }
          for (const std::string& part : parts) {
            std::string mapped;
            mapped.reserve(part.size() * 2);
            byte_level_encode(part, mapped);
            next.push_back(std::move(mapped));
          }
          break;
        }
        case Step::Kind::kMetaspace: {
          std::string s = replace_spaces(piece, step.replacement);
          const bool prepend = step.prepend == Prepend::kAlways ||
                               (step.prepend == Prepend::kFirst && at_text_start && i == 0);
          if (prepend && !s.starts_with(step.replacement)) s.insert(0, step.replacement);
          if (!step.metaspace_split) {
            next.push_back(std::move(s));
            break;
          }
          // Each '▁' starts a new piece: HF's MergedWithNext split on it.
          size_t start = 0;
          for (size_t hit = s.find(step.replacement, 1); hit != std::string::npos;
               hit = s.find(step.replacement, hit + 1)) {
            next.push_back(s.substr(start, hit - start));
            start = hit;
          }
          next.push_back(s.substr(start));
          break;
        }
      }
    }
    pieces = std::move(next);
  }
  std::erase_if(pieces, [](const std::string& p) { return p.empty(); });
  return pieces;
}

}  // namespace waypoint
