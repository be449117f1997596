#pragma once
// The "normalizer" stage of a tokenizer.json: text rewrites applied to each
// stretch of input between added tokens, before pre-tokenization.
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "base/result.hpp"

namespace waypoint {

class Normalizer {
 public:
  // From the "normalizer" value (null gives the identity). Supported: NFC,
  // NFD, NFKC, NFKD, Lowercase, Prepend, Replace with a String pattern, Sequence.
  static Result<Normalizer> from_json(const nlohmann::json& j);

  // text must be valid UTF-8.
  std::string normalize(std::string_view text) const;

 private:
  enum class Kind { kUnicodeForm, kLowercase, kPrepend, kReplace };
  struct Step {
    Kind kind;
    int utf8proc_options = 0;  // kUnicodeForm
    std::string a, b;          // kPrepend: a; kReplace: a -> b
  };
  static Result<void> add(const nlohmann::json& j, std::vector<Step>& steps);

  std::vector<Step> steps_;
};

}  // namespace waypoint
