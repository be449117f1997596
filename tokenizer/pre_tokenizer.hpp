#pragma once
// The "pre_tokenizer" stage: cuts normalized text into pieces that BPE then
// encodes independently, and rewrites them into the model's alphabet
// (GPT-2 bytes for ByteLevel, '▁' for spaces for Metaspace).
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "base/result.hpp"
#include "tokenizer/regex.hpp"

namespace waypoint {

class PreTokenizer {
 public:
  // From the "pre_tokenizer" value (null: the whole text is one piece).
  // Supported: ByteLevel, Split (Regex or String pattern, all five behaviours,
  // invert), Metaspace, Sequence.
  static Result<PreTokenizer> from_json(const nlohmann::json& j);

  // text is one stretch between added tokens; at_text_start says it begins the
  // whole input (Metaspace's prepend_scheme "first" needs that).
  std::vector<std::string> split(std::string_view text, bool at_text_start) const;

 private:
  enum class Behavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };
  enum class Prepend { kAlways, kFirst, kNever };
  struct Step {
    enum class Kind { kSplit, kByteLevel, kMetaspace } kind;
    std::vector<Regex> regex;  // kSplit, kByteLevel with use_regex: zero or one
    Behavior behavior = Behavior::kIsolated;
    bool invert = false;
    bool add_prefix_space = false;  // kByteLevel
    std::string replacement;        // kMetaspace
    Prepend prepend = Prepend::kAlways;
    bool metaspace_split = true;
  };
  static Result<void> add(const nlohmann::json& j, std::vector<Step>& steps);
  static void split_by(const Regex& re, Behavior behavior, bool invert, std::string_view piece,
                       std::vector<std::string>& out);

  std::vector<Step> steps_;
};

}  // namespace waypoint
