#include "frontend/stop_string_matcher.hpp"

#include <algorithm>

#include "tokenizer/utf8.hpp"

namespace waypoint {

StopStringMatcher::StopStringMatcher(const std::vector<std::string>& stop,
                                     bool include_stop_str_in_output)
    : stops_(stop) {
  nodes_.emplace_back();  // root: the empty suffix
  for (size_t i = 0; i < stops_.size(); ++i) {
    const std::string& s = stops_[i];
    if (s.empty()) continue;
    max_stop_len_ = std::max(max_stop_len_, s.size());
    uint32_t u = 0;
    for (const char ch : s) {
      const auto c = static_cast<unsigned char>(ch);
      if (auto v = child(u, c)) {
        u = *v;
        continue;
      }
      const auto v = static_cast<uint32_t>(nodes_.size());
      auto& next = nodes_[u].next;
      next.insert(std::upper_bound(next.begin(), next.end(), std::make_pair(c, uint32_t{0})),
                  {c, v});
      nodes_.emplace_back();
      u = v;
    }
    if (nodes_[u].stop < 0) nodes_[u].stop = static_cast<int64_t>(i);  // duplicates: first wins
  }

  // Breadth-first, so a node's failure target (which is shallower) is final
  // before the node is used. Folding the failure target's stop into the node
  // makes "which stop string ends here" one lookup instead of a chain walk.
  std::vector<uint32_t> order;
  order.reserve(nodes_.size());
  order.push_back(0);
  for (size_t k = 0; k < order.size(); ++k) {
    const uint32_t u = order[k];
    for (const auto& [c, v] : nodes_[u].next) {
      const uint32_t f = u == 0 ? 0 : step(nodes_[u].fail, c);
      nodes_[v].fail = f;
      const int64_t inherited = nodes_[f].stop;
      if (inherited >= 0 && (nodes_[v].stop < 0 || inherited < nodes_[v].stop)) {
        nodes_[v].stop = inherited;
      }
      order.push_back(v);
    }
  }

  // With the stop string kept in the output, a match only ever cuts text after
  // its own end, which lies in not-yet-released text: vLLM holds nothing back
  // then, and neither do we.
  hold_ = include_stop_str_in_output || max_stop_len_ == 0 ? 0 : max_stop_len_ - 1;
  include_ = include_stop_str_in_output;
}

std::optional<uint32_t> StopStringMatcher::child(uint32_t node, unsigned char c) const {
  const auto& next = nodes_[node].next;
  auto it = std::lower_bound(next.begin(), next.end(), c,
                             [](const auto& edge, unsigned char b) { return edge.first < b; });
  if (it == next.end() || it->first != c) return std::nullopt;
  return it->second;
}

uint32_t StopStringMatcher::step(uint32_t node, unsigned char c) const {
  for (;;) {
    if (auto v = child(node, c)) return *v;
    if (node == 0) return 0;
    node = nodes_[node].fail;
  }
}

void StopStringMatcher::remember_tail(std::string_view new_text) {
  const size_t keep = hold_ + 4;
  if (new_text.size() >= keep) {
    tail_.assign(new_text.substr(new_text.size() - keep));
    return;
  }
  tail_.append(new_text);
  if (tail_.size() > keep) tail_.erase(0, tail_.size() - keep);
}

std::optional<StopMatch> StopStringMatcher::append(std::string_view new_text, bool detect) {
  if (match_) return std::nullopt;
  if (max_stop_len_ > 0) {
    for (size_t i = 0; i < new_text.size(); ++i) {
      state_ = step(state_, static_cast<unsigned char>(new_text[i]));
      const int64_t k = nodes_[state_].stop;
      if (k < 0 || !detect) continue;
      const std::string& s = stops_[static_cast<size_t>(k)];
      const size_t end = text_len_ + i + 1;
      match_ = StopMatch{static_cast<size_t>(k), s, include_ ? end : end - s.size()};
      text_len_ = match_->truncate_len;
      return match_;
    }
  }
  text_len_ += new_text.size();
  remember_tail(new_text);
  return std::nullopt;
}

size_t StopStringMatcher::releasable_len(bool finished) const {
  if (match_) return match_->truncate_len;
  if (finished) return text_len_;
  if (text_len_ <= hold_) return 0;
  // tail_ holds the text's last min(text_len_, hold_+4) bytes, so the cut and
  // the up to 4 bytes before it (a code point it may split) are all in it.
  const size_t tail_start = text_len_ - tail_.size();
  const size_t cut = text_len_ - hold_;
  const std::string_view before_cut(tail_.data(), cut - tail_start);
  return tail_start + utf8_complete_prefix_len(before_cut);
}

}  // namespace waypoint
