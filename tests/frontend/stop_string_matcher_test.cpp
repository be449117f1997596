#include "frontend/stop_string_matcher.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <random>
#include <string>
#include <vector>

#include "tokenizer/utf8.hpp"

namespace waypoint {
namespace {

// What a streaming client sees: the deltas sent while the request runs, then
// the rest once it finishes (at a stop match, or after the last chunk).
struct Stream {
  std::string text;                 // output text, truncated at a match
  std::string released;             // concatenation of deltas
  std::vector<std::string> deltas;  // one per chunk, plus the final flush
  std::optional<StopMatch> match;
};

Stream run_stream(const std::vector<std::string>& stop, bool include,
                  const std::vector<std::string>& chunks) {
  StopStringMatcher m(stop, include);
  Stream r;
  size_t sent = 0;
  auto release = [&](bool finished) {
    const size_t n = m.releasable_len(finished);
    EXPECT_GE(n, sent);
    EXPECT_LE(n, r.text.size());
    if (n < sent || n > r.text.size()) return;
    r.deltas.push_back(r.text.substr(sent, n - sent));
    r.released += r.deltas.back();
    sent = n;
    EXPECT_EQ(r.text.compare(0, r.released.size(), r.released), 0) << "released text was cut";
  };
  for (const std::string& chunk : chunks) {
    r.text += chunk;
    r.match = m.append(chunk);
    if (r.match) r.text.resize(r.match->truncate_len);
    EXPECT_EQ(m.text_len(), r.text.size());
    release(r.match.has_value());
    if (r.match) return r;
  }
  release(true);
  return r;
}

// The whole text at once: the stop string that completes first, ties going to
// the one listed first.
std::string reference(const std::string& text, const std::vector<std::string>& stop, bool include,
                      std::optional<size_t>* index = nullptr) {
  for (size_t end = 1; end <= text.size(); ++end) {
    for (size_t k = 0; k < stop.size(); ++k) {
      const std::string& s = stop[k];
      if (s.empty() || s.size() > end || text.compare(end - s.size(), s.size(), s) != 0) continue;
      if (index) *index = k;
      return text.substr(0, include ? end : end - s.size());
    }
  }
  if (index) index->reset();
  return text;
}

std::vector<std::string> bytes_of(const std::string& text) {
  std::vector<std::string> out;
  for (char c : text) out.emplace_back(1, c);
  return out;
}

TEST(StopStringMatcher, StopSplitAcrossTwoChunks) {
  const Stream r = run_stream({"STOP"}, false, {"Hello ST", "OP world"});
  ASSERT_TRUE(r.match);
  EXPECT_EQ(r.match->stop_index, 0u);
  EXPECT_EQ(r.match->stop, "STOP");
  EXPECT_EQ(r.match->truncate_len, 6u);
  EXPECT_EQ(r.text, "Hello ");
  EXPECT_EQ(r.released, "Hello ");
  // "ST" was held back at the first chunk: it turned out to start the stop string.
  EXPECT_EQ(r.deltas.front(), "Hello");
}

TEST(StopStringMatcher, StopSplitAcrossThreeChunks) {
  const Stream r = run_stream({"STOP"}, false, {"Hello S", "TO", "P more"});
  ASSERT_TRUE(r.match);
  EXPECT_EQ(r.text, "Hello ");
  EXPECT_EQ(r.released, "Hello ");
}

TEST(StopStringMatcher, StopArrivingOneCharacterAtATime) {
  const std::string text = "The answer is 42.\n\nQuestion: what next?";
  const Stream r = run_stream({"\n\nQuestion:"}, false, bytes_of(text));
  ASSERT_TRUE(r.match);
  EXPECT_EQ(r.text, "The answer is 42.");
  EXPECT_EQ(r.released, "The answer is 42.");
}

TEST(StopStringMatcher, StopAloneInItsOwnChunk) {
  const Stream r = run_stream({"</s>"}, false, {"abc", "</s>", "def"});
  ASSERT_TRUE(r.match);
  EXPECT_EQ(r.text, "abc");
}

TEST(StopStringMatcher, StopAtTheVeryStart) {
  const Stream r = run_stream({"User:"}, false, {"User:", " hi"});
  ASSERT_TRUE(r.match);
  EXPECT_EQ(r.match->truncate_len, 0u);
  EXPECT_EQ(r.text, "");
  EXPECT_EQ(r.released, "");
}

TEST(StopStringMatcher, PartialPrefixThatFailsIsReleased) {
  // "ST" and "STO" look like the start of "STOP" but are not.
  const Stream r = run_stream({"STOP"}, false, {"ST", "ST", "O", "STOR", "E!"});
  EXPECT_FALSE(r.match);
  EXPECT_EQ(r.text, "STSTOSTORE!");
  EXPECT_EQ(r.released, r.text);
}

TEST(StopStringMatcher, SelfOverlappingStopString) {
  // After "aaa" fails on the second 'a' of "aab", the match must restart
  // inside the text already seen.
  for (const auto& chunks : {std::vector<std::string>{"xaaaab"}, bytes_of("xaaaab"),
                             std::vector<std::string>{"xaa", "aa", "b"}}) {
    const Stream r = run_stream({"aaab"}, false, chunks);
    ASSERT_TRUE(r.match);
    EXPECT_EQ(r.text, "xa");
  }
  const Stream r = run_stream({"abac"}, false, bytes_of("ababac"));
  ASSERT_TRUE(r.match);
  EXPECT_EQ(r.text, "ab");
}

TEST(StopStringMatcher, MultipleStopsWithOverlappingPrefixes) {
  const std::vector<std::string> stop = {"abd", "abc", "ab!"};
  for (const auto& chunks : {std::vector<std::string>{"xxabc yy"}, bytes_of("xxabc yy"),
                             std::vector<std::string>{"xxa", "bc"}}) {
    const Stream r = run_stream(stop, false, chunks);
    ASSERT_TRUE(r.match);
    EXPECT_EQ(r.match->stop_index, 1u);
    EXPECT_EQ(r.text, "xx");
  }
  const Stream none = run_stream(stop, false, {"ab", "ab", "a", "b?"});
  EXPECT_FALSE(none.match);
  EXPECT_EQ(none.released, "ababab?");
}

TEST(StopStringMatcher, EarliestCompletedMatchWinsOverListOrder) {
  const Stream r = run_stream({"world", "lo"}, false, {"hello world"});
  ASSERT_TRUE(r.match);
  EXPECT_EQ(r.match->stop_index, 1u);
  EXPECT_EQ(r.text, "hel");
}

TEST(StopStringMatcher, StopInsideAnotherStopCompletesFirst) {
  // "bcd" completes before "abcde" could, so it wins however the text is
  // split into tokens.
  for (const auto& chunks : {std::vector<std::string>{"xabcdey"}, bytes_of("xabcdey"),
                             std::vector<std::string>{"xabc", "dey"}}) {
    const Stream r = run_stream({"abcde", "bcd"}, false, chunks);
    ASSERT_TRUE(r.match);
    EXPECT_EQ(r.match->stop, "bcd");
    EXPECT_EQ(r.text, "xa");
  }
}

TEST(StopStringMatcher, SameEndGoesToTheOneListedFirst) {
  const Stream longer_first = run_stream({"aab", "ab"}, false, {"xaab"});
  ASSERT_TRUE(longer_first.match);
  EXPECT_EQ(longer_first.match->stop_index, 0u);
  EXPECT_EQ(longer_first.text, "x");

  const Stream shorter_first = run_stream({"ab", "aab"}, false, {"xaab"});
  ASSERT_TRUE(shorter_first.match);
  EXPECT_EQ(shorter_first.match->stop_index, 0u);
  EXPECT_EQ(shorter_first.text, "xa");

  const Stream duplicate = run_stream({"zz", "ab", "ab"}, false, {"xab"});
  ASSERT_TRUE(duplicate.match);
  EXPECT_EQ(duplicate.match->stop_index, 1u);
}

TEST(StopStringMatcher, IncludeStopStrInOutput) {
  const Stream r = run_stream({"STOP"}, true, {"Hello ST", "OP and more"});
  ASSERT_TRUE(r.match);
  EXPECT_EQ(r.match->truncate_len, 10u);
  EXPECT_EQ(r.text, "Hello STOP");
  EXPECT_EQ(r.released, "Hello STOP");
  // Nothing is held back: a match can only cut text after its own end.
  EXPECT_EQ(r.deltas.front(), "Hello ST");

  const Stream at_end = run_stream({"."}, true, {"One", " sentence."});
  ASSERT_TRUE(at_end.match);
  EXPECT_EQ(at_end.text, "One sentence.");
}

TEST(StopStringMatcher, NoMatchHoldsBackTailUntilFinished) {
  StopStringMatcher m({"xyz", "q"});
  EXPECT_EQ(m.max_stop_len(), 3u);
  EXPECT_FALSE(m.append("a"));
  EXPECT_EQ(m.releasable_len(false), 0u);
  EXPECT_FALSE(m.append("bcdef"));
  EXPECT_EQ(m.releasable_len(false), 4u);
  EXPECT_FALSE(m.append("xy"));
  EXPECT_EQ(m.releasable_len(false), 6u);
  EXPECT_EQ(m.releasable_len(true), 8u);
  EXPECT_FALSE(m.stopped());

  const Stream r = run_stream({"xyz"}, false, {"no ", "stop ", "here", " xy"});
  EXPECT_FALSE(r.match);
  EXPECT_EQ(r.released, "no stop here xy");
  EXPECT_EQ(r.deltas.back(), "xy");
}

TEST(StopStringMatcher, EmptyStopStringsAreIgnored) {
  StopStringMatcher none({"", ""});
  EXPECT_EQ(none.max_stop_len(), 0u);
  EXPECT_FALSE(none.append("anything"));
  EXPECT_EQ(none.releasable_len(false), 8u);

  const Stream r = run_stream({"", "b"}, false, {"aab"});
  ASSERT_TRUE(r.match);
  EXPECT_EQ(r.match->stop_index, 1u);
  EXPECT_EQ(r.text, "aa");
}

TEST(StopStringMatcher, StopsMatchingAfterAMatch) {
  StopStringMatcher m({"!"});
  const auto match = m.append("hi! there!");
  ASSERT_TRUE(match);
  EXPECT_EQ(match->truncate_len, 2u);
  EXPECT_FALSE(m.append("more!"));
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(m.match()->truncate_len, 2u);
  EXPECT_EQ(m.text_len(), 2u);
  EXPECT_EQ(m.releasable_len(false), 2u);
}

TEST(StopStringMatcher, UndetectedTextCanStartButNotEndAMatch) {
  // vLLM's min_tokens: text from the first tokens is not checked, but a stop
  // string that starts there and completes later still counts.
  StopStringMatcher m({"ab"});
  EXPECT_FALSE(m.append("xab", /*detect=*/false));
  EXPECT_FALSE(m.append("xa", /*detect=*/false));
  const auto match = m.append("b");
  ASSERT_TRUE(match);
  EXPECT_EQ(match->truncate_len, 4u);
}

TEST(StopStringMatcher, MultiByteStopStringAndText) {
  const std::string text =
      "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xF0\x9F\x9B\x91\xE3\x81\xA7\xE3\x81\x99";  // 日本語🛑です
  const std::string stop = "\xF0\x9F\x9B\x91";                                         // 🛑
  for (const auto& chunks :
       {std::vector<std::string>{text}, bytes_of(text),
        std::vector<std::string>{"\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xF0\x9F", "\x9B",
                                 "\x91\xE3\x81\xA7"}}) {
    const Stream r = run_stream({stop}, false, chunks);
    ASSERT_TRUE(r.match);
    EXPECT_EQ(r.text, "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E");
    EXPECT_EQ(r.released, r.text);
    for (const std::string& d : r.deltas) EXPECT_TRUE(validate_utf8(d).ok()) << d;
  }
  const Stream kept = run_stream({stop}, true, {text});
  EXPECT_EQ(kept.text, "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xF0\x9F\x9B\x91");
}

TEST(StopStringMatcher, HeldBackTailDoesNotSplitACodePoint) {
  StopStringMatcher m({"abcd"});           // holds back 3 bytes
  EXPECT_FALSE(m.append("\xE6\x97\xA5"));  // 日
  EXPECT_EQ(m.releasable_len(false), 0u);
  EXPECT_FALSE(m.append("b"));
  // Releasing 1 byte would split 日.
  EXPECT_EQ(m.releasable_len(false), 0u);
  EXPECT_FALSE(m.append("c"));
  EXPECT_EQ(m.releasable_len(false), 0u);
  EXPECT_FALSE(m.append("x"));
  EXPECT_EQ(m.releasable_len(false), 3u);
  EXPECT_FALSE(m.append("\xC3\xA9"));  // é: the cut after 3 more bytes lands in front of it
  EXPECT_EQ(m.releasable_len(false), 5u);
  EXPECT_EQ(m.releasable_len(true), 8u);
}

TEST(StopStringMatcher, PartialCodePointAtTheEndIsNotReleased) {
  // With no hold-back, a caller that appends half a character still never
  // gets it released before the rest arrives.
  StopStringMatcher m({});
  EXPECT_FALSE(m.append("a\xE2\x82"));
  EXPECT_EQ(m.releasable_len(false), 1u);
  EXPECT_FALSE(m.append("\xAC"));
  EXPECT_EQ(m.releasable_len(false), 4u);
}

TEST(StopStringMatcher, LongOutputOneByteAtATime) {
  const std::string stop(64, 'a');
  StopStringMatcher m({stop, "b" + std::string(63, 'a')});
  std::string text;
  for (int i = 0; i < 200000; ++i) {
    const char c = (i % 50 == 0) ? 'c' : 'a';
    text += c;
    ASSERT_FALSE(m.append(std::string_view(&text.back(), 1)));
  }
  EXPECT_EQ(m.releasable_len(false), text.size() - 63);
  const auto match = m.append(std::string(64, 'a'));
  ASSERT_TRUE(match);
  EXPECT_EQ(match->stop_index, 0u);
  EXPECT_EQ(match->truncate_len, reference(text + std::string(64, 'a'), {stop}, false).size());
}

// Whatever the chunking, the client sees exactly what a whole-text check gives,
// and never a character that a later match removes or a split code point.
TEST(StopStringMatcher, RandomChunkingMatchesWholeTextReference) {
  std::mt19937 rng(20240611);
  const std::vector<std::string> alphabet = {"a", "b", "c", "\xC3\xA9",
                                             "\xE2\x82\xAC"};  // a b c é €
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  auto random_text = [&](size_t max_chars) {
    std::string s;
    const size_t n = pick(max_chars + 1);
    for (size_t i = 0; i < n; ++i) s += alphabet[pick(alphabet.size())];
    return s;
  };

  int matched = 0;
  for (int iter = 0; iter < 1000; ++iter) {
    const std::string text = random_text(40);
    std::vector<std::string> stop;
    const size_t num_stop = pick(4);
    for (size_t i = 0; i < num_stop; ++i) {
      std::string s = random_text(4);
      // Half the stop strings are taken from the text, so matches are common.
      if (!text.empty() && pick(2) == 0) {
        const size_t a = pick(text.size()), len = 1 + pick(6);
        s = text.substr(a, len);
        if (!validate_utf8(s).ok()) s = random_text(3);
      }
      stop.push_back(s);
    }
    const bool include = pick(2) == 0;

    // Chunks of 1..6 bytes; every other case aligned to characters like a
    // detokenizer would be, the rest cut anywhere.
    const bool byte_cuts = iter % 2 == 1;
    std::vector<std::string> chunks;
    for (size_t at = 0; at < text.size();) {
      size_t end = std::min(text.size(), at + 1 + pick(6));
      while (!byte_cuts && end < text.size() &&
             (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80)
        ++end;
      chunks.push_back(text.substr(at, end - at));
      at = end;
    }

    std::optional<size_t> ref_index;
    const std::string expected = reference(text, stop, include, &ref_index);
    const Stream r = run_stream(stop, include, chunks);
    SCOPED_TRACE("case " + std::to_string(iter));
    ASSERT_EQ(r.text, expected);
    ASSERT_EQ(r.released, expected);
    ASSERT_EQ(r.match.has_value(), ref_index.has_value());
    if (r.match) {
      ASSERT_EQ(r.match->stop_index, *ref_index);
      ++matched;
    }
    for (const std::string& d : r.deltas) ASSERT_TRUE(validate_utf8(d).ok());
  }
  // The property only means something if both outcomes are well represented.
  EXPECT_GT(matched, 300);
  EXPECT_LT(matched, 900);
}

}  // namespace
}  // namespace waypoint
