#include "tokenizer/bpe_model.hpp"

#include <cstdio>
#include <nlohmann/json.hpp>
#include <queue>

namespace waypoint {
namespace {

size_t utf8_char_len(unsigned char lead) {
  if (lead < 0xC0) return 1;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  return 4;
}

}  // namespace

Result<BpeModel> BpeModel::from_json(const nlohmann::json& j) {
  BpeModel m;
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (j.contains(key) && j[key].is_string() && !j[key].get<std::string>().empty()) {
      return Error{std::string("unsupported BPE option ") + key};
    }
  }
  const auto& vocab = j.at("vocab");
  if (!vocab.is_object()) return Error{"model.vocab is not an object"};
  m.vocab_.reserve(vocab.size());
  int32_t max_id = -1;
  for (const auto& [token, id] : vocab.items()) {
    const int32_t v = id.get<int32_t>();
    if (v < 0) return Error{"negative id for token \"" + token + "\""};
    m.vocab_.emplace(token, v);
    max_id = std::max(max_id, v);
  }
  m.id_to_token_.resize(size_t(max_id + 1));
  m.has_token_.resize(size_t(max_id + 1));
  for (const auto& [token, id] : m.vocab_) {
    m.id_to_token_[size_t(id)] = token;
    m.has_token_[size_t(id)] = true;
  }

  const auto& merges = j.at("merges");
  m.merges_.reserve(merges.size());
  int32_t rank = 0;
  for (const auto& merge : merges) {
    std::string a, b;
    if (merge.is_string()) {
      // Old format: split at the first space (tokens then cannot contain one).
      const std::string s = merge.get<std::string>();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos) return Error{"merge \"" + s + "\" has no space"};
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else {
      a = merge.at(0).get<std::string>();
      b = merge.at(1).get<std::string>();
    }
    const auto ia = m.vocab_.find(a), ib = m.vocab_.find(b), ic = m.vocab_.find(a + b);
    if (ia == m.vocab_.end() || ib == m.vocab_.end() || ic == m.vocab_.end()) {
      return Error{"merge \"" + a + " " + b + "\" uses a token outside the vocabulary"};
    }
    // The first listing of a pair wins, as in HF.
    m.merges_.emplace(pair_key(ia->second, ib->second), Merge{rank++, ic->second});
  }

  if (j.contains("unk_token") && j["unk_token"].is_string()) {
    if (auto it = m.vocab_.find(j["unk_token"].get<std::string>()); it != m.vocab_.end()) {
      m.unk_id_ = it->second;
    }
  }
  m.fuse_unk_ = j.value("fuse_unk", false);
  m.byte_fallback_ = j.contains("byte_fallback") && j["byte_fallback"].is_boolean() &&
                     j["byte_fallback"].get<bool>();
  m.ignore_merges_ = j.contains("ignore_merges") && j["ignore_merges"].is_boolean() &&
                     j["ignore_merges"].get<bool>();
  if (m.byte_fallback_) {
    m.have_byte_ids_ = true;
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", b);
      const auto it = m.vocab_.find(std::string_view(name));
      if (it == m.vocab_.end()) {
        m.have_byte_ids_ = false;
        break;
      }
      m.byte_ids_[b] = it->second;
    }
  }
  return m;
}

std::optional<int32_t> BpeModel::token_to_id(std::string_view token) const {
  const auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::id_to_token(int32_t id) const {
  if (id < 0 || size_t(id) >= id_to_token_.size() || !has_token_[size_t(id)]) return nullptr;
  return &id_to_token_[size_t(id)];
}

void BpeModel::encode(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.empty()) return;
  if (ignore_merges_) {
    if (const auto it = vocab_.find(piece); it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }

  // Symbols form a doubly linked list over a vector; a merged-away symbol is
  // marked dead rather than erased so that positions stay stable for the heap.
  struct Symbol {
    int32_t id;
    int32_t prev, next;
    bool alive;
  };
  std::vector<Symbol> syms;
  syms.reserve(piece.size());
  auto push_symbol = [&](int32_t id) {
    const auto n = int32_t(syms.size());
    syms.push_back({id, n - 1, n + 1, true});
  };
  bool last_was_unk = false;
  for (size_t i = 0; i < piece.size();) {
    const size_t len = std::min(utf8_char_len(uint8_t(piece[i])), piece.size() - i);
    const std::string_view ch = piece.substr(i, len);
    i += len;
    if (const auto it = vocab_.find(ch); it != vocab_.end()) {
      push_symbol(it->second);
      last_was_unk = false;
    } else if (byte_fallback_ && have_byte_ids_) {
      for (const char c : ch) push_symbol(byte_ids_[uint8_t(c)]);
      last_was_unk = false;
    } else if (unk_id_) {
      if (!(fuse_unk_ && last_was_unk)) push_symbol(*unk_id_);
      last_was_unk = true;
    }
  }
  if (syms.empty()) return;
  syms.back().next = -1;

  struct Candidate {
    int32_t rank, pos, new_id;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
  auto consider = [&](int32_t pos) {
    if (pos < 0 || syms[size_t(pos)].next < 0) return;
    const auto it =
        merges_.find(pair_key(syms[size_t(pos)].id, syms[size_t(syms[size_t(pos)].next)].id));
    if (it != merges_.end()) heap.push({it->second.rank, pos, it->second.new_id});
  };
  for (int32_t p = 0; p + 1 < int32_t(syms.size()); ++p) consider(p);

  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    Symbol& left = syms[size_t(c.pos)];
    if (!left.alive || left.next < 0) continue;
    Symbol& right = syms[size_t(left.next)];
    // Stale entry: one side has been merged since it was queued.
    const auto it = merges_.find(pair_key(left.id, right.id));
    if (it == merges_.end() || it->second.new_id != c.new_id) continue;
    left.id = c.new_id;
    right.alive = false;
    left.next = right.next;
    if (left.next >= 0) syms[size_t(left.next)].prev = c.pos;
    consider(left.prev);
    consider(c.pos);
  }
  for (int32_t p = 0; p >= 0; p = syms[size_t(p)].next) out.push_back(syms[size_t(p)].id);
}

}  // namespace waypoint
