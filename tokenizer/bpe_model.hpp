#pragma once
// The "model" stage for type "BPE": a vocabulary and ranked merges, applied to
// one pre-tokenized piece at a time.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "base/result.hpp"

namespace waypoint {

// Hashing std::string keys by string_view, so lookups need no allocation.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using TokenMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

class BpeModel {
 public:
  // From the "model" value; merges may be "a b" strings or ["a", "b"] pairs.
  static Result<BpeModel> from_json(const nlohmann::json& j);

  // Appends the ids of one piece (already in the vocabulary's alphabet). Merges
  // are applied lowest rank first, leftmost first among equals, as HF does.
  // A character missing from the vocabulary becomes its <0xNN> byte tokens
  // with byte_fallback, else the unk token (consecutive ones fused with
  // fuse_unk), else is dropped (HF would fail the whole encode).
  void encode(std::string_view piece, std::vector<int32_t>& out) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  // nullptr for an id outside the vocabulary.
  const std::string* id_to_token(int32_t id) const;
  // One past the largest id in the vocabulary.
  int32_t size() const { return int32_t(id_to_token_.size()); }

 private:
  struct Merge {
    int32_t rank;
    int32_t new_id;
  };
  static uint64_t pair_key(int32_t a, int32_t b) {
    return uint64_t(uint32_t(a)) << 32 | uint32_t(b);
  }

  TokenMap vocab_;
  std::vector<std::string> id_to_token_;  // "" where an id has no token
  std::vector<bool> has_token_;
  std::unordered_map<uint64_t, Merge> merges_;
  std::optional<int32_t> unk_id_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
  int32_t byte_ids_[256] = {};  // <0xNN> ids when byte_fallback and all 256 exist
  bool have_byte_ids_ = false;
};

}  // namespace waypoint
