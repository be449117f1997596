#include "tokenizer/utf8.hpp"

#include <gtest/gtest.h>

#include <string>

namespace waypoint {
namespace {

void expect_valid(const std::string& s) {
  const Utf8Validation v = validate_utf8(s);
  EXPECT_TRUE(v.ok()) << utf8_error_message(v);
  EXPECT_EQ(v.offset, s.size());
}

void expect_invalid(const std::string& s, Utf8Error error, size_t offset) {
  const Utf8Validation v = validate_utf8(s);
  EXPECT_FALSE(v.ok());
  EXPECT_EQ(v.error, error) << utf8_error_message(v);
  EXPECT_EQ(v.offset, offset) << utf8_error_message(v);
}

TEST(Utf8Validate, AcceptsEmptyAndAscii) {
  expect_valid("");
  expect_valid("a");
  expect_valid("{\"model\": \"llama\", \"prompt\": \"hello world, this is long ascii\"}");
  expect_valid(std::string("nul\0inside", 10));
  expect_valid("\x7f");
}

TEST(Utf8Validate, AcceptsMultiByteSequences) {
  expect_valid("\xC2\x80");           // U+0080, smallest 2-byte
  expect_valid("\xC3\xA9t\xC3\xA9");  // été
  expect_valid("\xDF\xBF");           // U+07FF
  expect_valid("\xE0\xA0\x80");       // U+0800, smallest 3-byte
  expect_valid("\xE2\x82\xAC");       // €
  expect_valid("\xED\x9F\xBF");       // U+D7FF, just below the surrogates
  expect_valid("\xEE\x80\x80");       // U+E000, just above them
  expect_valid("\xEF\xBF\xBF");       // U+FFFF
  expect_valid("\xF0\x90\x80\x80");   // U+10000, smallest 4-byte
  expect_valid("\xF0\x9F\x98\x80");   // 😀
  expect_valid("\xF4\x8F\xBF\xBF");   // U+10FFFF, the largest
  // Long enough to go through the eight-byte ASCII skip on both sides.
  expect_valid(
      "0123456789abcdef\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E"
      "0123456789abcdef");
}

TEST(Utf8Validate, RejectsStrayContinuation) {
  expect_invalid("\x80", Utf8Error::kStrayContinuation, 0);
  expect_invalid("abc\xBF", Utf8Error::kStrayContinuation, 3);
  // One continuation byte too many after a complete sequence.
  expect_invalid("\xC3\xA9\xA9", Utf8Error::kStrayContinuation, 2);
  expect_invalid("0123456789\x80", Utf8Error::kStrayContinuation, 10);
}

TEST(Utf8Validate, RejectsInvalidBytes) {
  expect_invalid("ab\xFF", Utf8Error::kInvalidByte, 2);
  expect_invalid("\xFE", Utf8Error::kInvalidByte, 0);
  expect_invalid("\xF8\x88\x80\x80\x80", Utf8Error::kInvalidByte, 0);
}

TEST(Utf8Validate, RejectsOverlongs) {
  expect_invalid("\xC0\xAF", Utf8Error::kOverlong, 0);  // '/' in 2 bytes
  expect_invalid("x\xC1\xBF", Utf8Error::kOverlong, 1);
  expect_invalid("\xE0\x80\xAF", Utf8Error::kOverlong, 0);      // '/' in 3 bytes
  expect_invalid("ab\xE0\x9F\xBF", Utf8Error::kOverlong, 2);    // U+07FF in 3 bytes
  expect_invalid("\xF0\x80\x80\xAF", Utf8Error::kOverlong, 0);  // '/' in 4 bytes
  expect_invalid("\xF0\x8F\xBF\xBF", Utf8Error::kOverlong, 0);  // U+FFFF in 4 bytes
}

TEST(Utf8Validate, RejectsSurrogates) {
  expect_invalid("\xED\xA0\x80", Utf8Error::kSurrogate, 0);     // U+D800
  expect_invalid("ok \xED\xBF\xBF", Utf8Error::kSurrogate, 3);  // U+DFFF
  // A CESU-8 style pair is two surrogates; the first is reported.
  expect_invalid("\xED\xA0\xBD\xED\xB8\x80", Utf8Error::kSurrogate, 0);
}

TEST(Utf8Validate, RejectsCodePointsAboveMax) {
  expect_invalid("\xF4\x90\x80\x80", Utf8Error::kOutOfRange, 0);  // U+110000
  expect_invalid("a\xF5\x80\x80\x80", Utf8Error::kOutOfRange, 1);
  expect_invalid("\xF7\xBF\xBF\xBF", Utf8Error::kOutOfRange, 0);
}

TEST(Utf8Validate, RejectsTruncatedSequences) {
  expect_invalid("\xC3", Utf8Error::kTruncated, 0);
  expect_invalid("abc\xE2\x82", Utf8Error::kTruncated, 3);
  expect_invalid("\xF0\x9F\x98", Utf8Error::kTruncated, 0);
  // Interrupted by a byte that is not a continuation byte.
  expect_invalid(
      "\xC3"
      "a",
      Utf8Error::kTruncated, 0);
  expect_invalid(
      "x\xE2\x82"
      "y",
      Utf8Error::kTruncated, 1);
  expect_invalid("\xF0\x9F\x98\xC3\xA9", Utf8Error::kTruncated, 0);
}

TEST(Utf8Validate, ReportsOnlyTheFirstError) {
  const std::string s = "h\xC3\xA9llo \xE2\x82\xAC \xED\xA0\x80 \xFF";
  expect_invalid(s, Utf8Error::kSurrogate, 11);
  EXPECT_EQ(utf8_error_message(validate_utf8(s)), "invalid UTF-8 at byte 11: surrogate code point");
}

TEST(Utf8Validate, OffsetIsTheLongestValidPrefix) {
  const std::string s = "na\xC3\xAFve \xE2\x82\xAC\xF0\x9F\x98\x80\xC0\x80 tail";
  const Utf8Validation v = validate_utf8(s);
  ASSERT_FALSE(v.ok());
  EXPECT_TRUE(validate_utf8(s.substr(0, v.offset)).ok());
}

TEST(Utf8CompletePrefix, KeepsCompleteText) {
  EXPECT_EQ(utf8_complete_prefix_len(""), 0u);
  EXPECT_EQ(utf8_complete_prefix_len("abc"), 3u);
  EXPECT_EQ(utf8_complete_prefix_len("caf\xC3\xA9"), 5u);
  EXPECT_EQ(utf8_complete_prefix_len("\xE2\x82\xAC"), 3u);
  EXPECT_EQ(utf8_complete_prefix_len("a\xF0\x9F\x98\x80"), 5u);
}

TEST(Utf8CompletePrefix, HoldsBackAnUnfinishedCodePoint) {
  const std::string full[] = {"\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "\xF4\x8F\xBF\xBF"};
  for (const std::string& c : full) {
    const std::string text = "ab" + c;
    for (size_t cut = 3; cut < text.size(); ++cut) {
      EXPECT_EQ(utf8_complete_prefix_len(text.substr(0, cut)), 2u)
          << "cut " << cut << " of " << text;
    }
    EXPECT_EQ(utf8_complete_prefix_len(text), text.size());
  }
  // Only the last code point is considered; earlier ones are complete.
  EXPECT_EQ(utf8_complete_prefix_len("\xC3\xA9\xE2\x82\xAC\xF0\x9F"), 5u);
  EXPECT_EQ(utf8_complete_prefix_len("\xE2"), 0u);
}

TEST(Utf8CompletePrefix, DoesNotHoldBackBytesThatCanNeverComplete) {
  EXPECT_EQ(utf8_complete_prefix_len("a\xC0"), 2u);      // overlong-only lead
  EXPECT_EQ(utf8_complete_prefix_len("a\xE0\x80"), 3u);  // overlong
  EXPECT_EQ(utf8_complete_prefix_len("a\xED\xA0"), 3u);  // surrogate
  EXPECT_EQ(utf8_complete_prefix_len("a\xF4\x90"), 3u);  // above U+10FFFF
  EXPECT_EQ(utf8_complete_prefix_len("a\xFF"), 2u);
  EXPECT_EQ(utf8_complete_prefix_len("a\x80\x80\x80\x80"), 5u);  // stray continuations
  EXPECT_EQ(utf8_complete_prefix_len("\x80\x80"), 2u);
}

}  // namespace
}  // namespace waypoint
