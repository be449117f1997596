#include "modelgen/bpe_trainer.hpp"

#include <algorithm>
#include <map>
#include <tuple>
#include <unordered_set>

namespace waypoint::tools {
namespace {

bool is_newline(unsigned char c) { return c == '\r' || c == '\n'; }
bool is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}
bool is_letter(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
bool is_other(unsigned char c) { return !is_space(c) && !is_letter(c) && !is_digit(c); }

unsigned char lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c; }

// Length of the regex match at s[i] (alternatives tried in the pattern's order, each with
// the backtracking a regex engine would do); never 0 for i < s.size().
size_t match_at(std::string_view s, size_t i) {
  const size_t n = s.size();
  auto at = [&](size_t k) -> unsigned char { return k < n ? static_cast<unsigned char>(s[k]) : 0; };
  auto letters_from = [&](size_t k) {
    while (k < n && is_letter(at(k))) ++k;
    return k;
  };
  // (?i:'s|'t|'re|'ve|'m|'ll|'d)
  if (at(i) == '\'') {
    const unsigned char a = lower(at(i + 1)), b = lower(at(i + 2));
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  }
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (i + 1 < n && !is_newline(at(i)) && !is_letter(at(i)) && !is_digit(at(i)) &&
      is_letter(at(i + 1))) {
    return letters_from(i + 1) - i;
  }
  if (is_letter(at(i))) return letters_from(i) - i;
  // \p{N}{1,3}
  if (is_digit(at(i))) {
    size_t k = i;
    while (k < n && k < i + 3 && is_digit(at(k))) ++k;
    return k - i;
  }
  //  ?[^\s\p{L}\p{N}]+[\r\n]*
  {
    size_t k = i;
    if (at(k) == ' ' && k + 1 < n && is_other(at(k + 1))) ++k;
    if (k < n && is_other(at(k))) {
      while (k < n && is_other(at(k))) ++k;
      while (k < n && is_newline(at(k))) ++k;
      return k - i;
    }
  }
  // The rest start with whitespace: find the whole run.
  size_t end = i;
  while (end < n && is_space(at(end))) ++end;
  // \s*[\r\n]+ : up to and including the run's last newline.
  for (size_t k = end; k > i; --k) {
    if (is_newline(at(k - 1))) return k - i;
  }
  // \s+(?!\S) : the run, or all of it but the last character when text follows.
  if (end == n) return end - i;
  if (end - i >= 2) return end - 1 - i;
  // \s+
  return end - i;
}

}  // namespace

std::array<std::string, 256> byte_level_alphabet() {
  std::array<std::string, 256> out;
  const auto order = byte_order();
  // bytes_to_unicode: the first 188 bytes in order keep their code point; the rest map to
  // 256, 257, ... in that order.
  for (size_t i = 0; i < 256; ++i) {
    const unsigned char b = order[i];
    const unsigned cp = i < 188 ? b : static_cast<unsigned>(256 + (i - 188));
    std::string utf8;
    if (cp < 0x80) {
      utf8.push_back(static_cast<char>(cp));
    } else {  // every code point here is below U+0800: two bytes
      utf8.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      utf8.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
    out[b] = utf8;
  }
  return out;
}

std::array<unsigned char, 256> byte_order() {
  std::array<unsigned char, 256> order{};
  size_t k = 0;
  auto printable = [](unsigned b) {
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
  };
  for (unsigned b = 0; b < 256; ++b) {
    if (printable(b)) order[k++] = static_cast<unsigned char>(b);
  }
  for (unsigned b = 0; b < 256; ++b) {
    if (!printable(b)) order[k++] = static_cast<unsigned char>(b);
  }
  return order;
}

std::vector<std::string> split_llama3_ascii(std::string_view text) {
  std::vector<std::string> out;
  for (size_t i = 0; i < text.size();) {
    const size_t len = match_at(text, i);
    out.emplace_back(text.substr(i, len));
    i += len;
  }
  return out;
}

BpeVocabulary train_byte_level_bpe(std::string_view corpus, size_t target_size) {
  const auto alphabet = byte_level_alphabet();
  BpeVocabulary v;
  std::map<std::string, int> id_of;
  for (unsigned char b : byte_order()) {
    id_of[alphabet[b]] = static_cast<int>(v.tokens.size());
    v.tokens.push_back(alphabet[b]);
  }

  // Each distinct chunk once, with its count: the words the pairs are counted over.
  std::map<std::string, int64_t> chunk_counts;
  for (auto& chunk : split_llama3_ascii(corpus)) ++chunk_counts[chunk];
  std::vector<std::pair<std::vector<int>, int64_t>> words;
  for (const auto& [chunk, count] : chunk_counts) {
    std::vector<int> ids;
    for (unsigned char c : chunk) ids.push_back(id_of.at(alphabet[c]));
    words.emplace_back(std::move(ids), count);
  }

  while (v.tokens.size() < target_size) {
    std::map<std::pair<int, int>, int64_t> pairs;
    for (const auto& [ids, count] : words) {
      for (size_t k = 0; k + 1 < ids.size(); ++k) pairs[{ids[k], ids[k + 1]}] += count;
    }
    if (pairs.empty()) break;
    auto best = pairs.begin();
    for (auto it = pairs.begin(); it != pairs.end(); ++it) {
      const auto& [l, r] = it->first;
      const auto& [bl, br] = best->first;
      if (it->second > best->second ||
          (it->second == best->second &&
           std::tie(v.tokens[l], v.tokens[r]) < std::tie(v.tokens[bl], v.tokens[br]))) {
        best = it;
      }
    }
    const auto [left, right] = best->first;
    const std::string merged = v.tokens[left] + v.tokens[right];
    v.merges.emplace_back(v.tokens[left], v.tokens[right]);
    // Two merge paths can spell the same string ("ab"+"c", "a"+"bc"): one id serves both.
    auto [slot, inserted] = id_of.try_emplace(merged, static_cast<int>(v.tokens.size()));
    if (inserted) v.tokens.push_back(merged);
    const int merged_id = slot->second;
    for (auto& [ids, count] : words) {
      std::vector<int> next;
      next.reserve(ids.size());
      for (size_t k = 0; k < ids.size(); ++k) {
        if (k + 1 < ids.size() && ids[k] == left && ids[k + 1] == right) {
          next.push_back(merged_id);
          ++k;
        } else {
          next.push_back(ids[k]);
        }
      }
      ids = std::move(next);
    }
  }
  return v;
}

void pad_byte_level_bpe(BpeVocabulary& v, size_t target_size) {
  std::unordered_set<std::string> known(v.tokens.begin(), v.tokens.end());
  // The made-up tokens come after the ones they join, so their turn comes too: any size
  // can be reached.
  for (size_t left = 0; left < v.tokens.size() && v.tokens.size() < target_size; ++left) {
    for (size_t right = 0; right < 256 && v.tokens.size() < target_size; ++right) {
      std::string joined = v.tokens[left] + v.tokens[right];
      if (!known.insert(joined).second) continue;
      v.merges.emplace_back(v.tokens[left], v.tokens[right]);
      v.tokens.push_back(std::move(joined));
    }
  }
}

}  // namespace waypoint::tools
