#pragma once
// The "decoder" stage: turns a sequence of token strings back into text.
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "base/result.hpp"

namespace waypoint {

class TokenDecoder {
 public:
  // From the "decoder" value (null: tokens joined by spaces, as HF does).
  // Supported: ByteLevel, Metaspace, Replace (String pattern), ByteFallback,
  // Fuse, Strip, Sequence.
  static Result<TokenDecoder> from_json(const nlohmann::json& j);

  // The decoded bytes. Unlike HF, which makes each stage's output a valid
  // string, bytes are kept raw here (ByteFallback's <0xNN> become the byte
  // itself) so a streaming caller can hold back half a character; callers
  // wanting text pass the result through to_valid_utf8.
  std::string decode(std::vector<std::string> tokens) const;

 private:
  enum class Kind { kByteLevel, kMetaspace, kReplace, kByteFallback, kFuse, kStrip };
  struct Step {
    Kind kind;
    std::string a, b;         // kMetaspace: replacement; kReplace: a -> b; kStrip: content
    int start = 0, stop = 0;  // kStrip; kMetaspace: start == 1 strips the first space
  };
  static Result<void> add(const nlohmann::json& j, std::vector<Step>& steps);

  std::vector<Step> steps_;
  bool join_with_space_ = false;  // no decoder at all
};

}  // namespace waypoint
