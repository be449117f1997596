#pragma once
// Stop strings for one request's output text (vLLM's SamplingParams.stop),
// checked incrementally as the detokenizer appends text. The frontend owns the
// text; the matcher says where to cut it and how much of it is safe to stream.
//
// Positions and lengths are in bytes of UTF-8 text. Matching is exact and
// byte-wise; since stop strings and text are both well-formed UTF-8, a match
// can only start and end on code point boundaries.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace waypoint {

struct StopMatch {
  size_t stop_index = 0;    // index into the list given to the constructor
  std::string stop;         // the stop string itself, for stop_reason
  size_t truncate_len = 0;  // the output text must be cut to this length
};

class StopStringMatcher {
 public:
  // Empty stop strings are ignored; indices still refer to the list as given.
  explicit StopStringMatcher(const std::vector<std::string>& stop,
                             bool include_stop_str_in_output = false);

  // Feeds the text just appended to the output. Returns the match if a stop
  // string completes inside new_text: the one that completes first, and among
  // those ending at the same byte the one listed first. Once matched, the text
  // is considered truncated and further calls do nothing.
  // detect=false feeds text that must not trigger a stop (vLLM's min_tokens):
  // a stop string may still start in it and complete in a later call.
  std::optional<StopMatch> append(std::string_view new_text, bool detect = true);

  // How many bytes of the output so far may be sent to the client. While the
  // request runs, the last max_stop_len()-1 bytes are held back (they might
  // begin a stop string) and the cut never splits a code point; once finished
  // or matched, everything left is releasable. Never decreases.
  size_t releasable_len(bool finished) const;

  const std::optional<StopMatch>& match() const { return match_; }
  bool stopped() const { return match_.has_value(); }
  size_t text_len() const { return text_len_; }  // after truncation, if matched
  size_t max_stop_len() const { return max_stop_len_; }

 private:
  // Aho-Corasick automaton over the stop strings. Its state is the longest
  // suffix of the text that is a prefix of some stop string: that summarises
  // the last max_stop_len-1 bytes, so appended text is scanned once and never
  // re-read.
  struct Node {
    std::vector<std::pair<unsigned char, uint32_t>> next;  // sorted by byte
    uint32_t fail = 0;
    // Lowest list index among stop strings that end at this node, -1 if none.
    int64_t stop = -1;
  };

  std::optional<uint32_t> child(uint32_t node, unsigned char c) const;
  uint32_t step(uint32_t node, unsigned char c) const;
  void remember_tail(std::string_view new_text);

  std::vector<std::string> stops_;
  std::vector<Node> nodes_;
  size_t max_stop_len_ = 0;
  bool include_ = false;
  size_t hold_ = 0;  // bytes held back while running

  uint32_t state_ = 0;
  size_t text_len_ = 0;
  // The last hold_+4 bytes of the text: enough to step back over a code point
  // cut at text_len_-hold_ without keeping the whole output.
  std::string tail_;
  std::optional<StopMatch> match_;
};

}  // namespace waypoint
