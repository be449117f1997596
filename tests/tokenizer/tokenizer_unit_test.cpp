// Tokenizer pieces that need no downloaded files: the byte-level alphabet,
// lossy UTF-8, load errors, and small hand-written tokenizer.json files whose
// right answers can be worked out by hand.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "tokenizer/byte_level.hpp"
#include "tokenizer/incremental_detokenizer.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tokenizer/utf8_lossy.hpp"

namespace waypoint {
namespace {

using json = nlohmann::json;
using Ids = std::vector<int32_t>;

TEST(ByteLevel, MatchesGpt2Alphabet) {
  EXPECT_EQ(byte_to_unicode(' '), U'\u0120');   // 'Ġ'
  EXPECT_EQ(byte_to_unicode('\n'), U'\u010A');  // 'Ċ'
  EXPECT_EQ(byte_to_unicode('A'), U'A');
  EXPECT_EQ(byte_to_unicode(0xAD), U'\u0143');  // the last one moved
  std::set<char32_t> seen;
  std::string all, encoded, decoded;
  for (int b = 0; b < 256; ++b) {
    seen.insert(byte_to_unicode(uint8_t(b)));
    all.push_back(char(b));
  }
  EXPECT_EQ(seen.size(), 256u);
  byte_level_encode(all, encoded);
  byte_level_decode(encoded, decoded);
  EXPECT_EQ(decoded, all);
}

TEST(ByteLevel, TokenOutsideAlphabetDecodesVerbatim) {
  std::string out;
  byte_level_decode("<|im_end|>", out);
  EXPECT_EQ(out, "<|im_end|>");
  out.clear();
  byte_level_decode("a\xE2\x82\xAC", out);  // "a€": '€' is no byte's code point
  EXPECT_EQ(out, "a\xE2\x82\xAC");
}

TEST(Utf8Lossy, ReplacesMaximalSubparts) {
  EXPECT_EQ(to_valid_utf8("plain"), "plain");
  EXPECT_EQ(to_valid_utf8("\xE6\x97\xA5"), "\xE6\x97\xA5");
  EXPECT_EQ(to_valid_utf8("a\xE6\x97"
                          "b"),
            "a\xEF\xBF\xBD"
            "b");  // one truncated char
  EXPECT_EQ(to_valid_utf8("\xFF\xFE"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(to_valid_utf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong: two
  EXPECT_EQ(to_valid_utf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(to_valid_utf8("\xF0\x9F\x98"), "\xEF\xBF\xBD");
}

// A byte-level BPE over the alphabet, with merges given in `merges` order.
json byte_level_tokenizer(const std::vector<std::pair<std::string, std::string>>& merges) {
  json vocab = json::object();
  int id = 0;
  for (int b = 0; b < 256; ++b) {
    std::string s;
    byte_level_encode(std::string(1, char(b)), s);
    vocab[s] = id++;
  }
  json m = json::array();
  for (const auto& [a, b] : merges) {
    if (!vocab.contains(a + b)) vocab[a + b] = id++;
    m.push_back(json::array({a, b}));
  }
  return {
      {"version", "1.0"},
      {"added_tokens", json::array({{{"id", 500}, {"content", "<|bos|>"}, {"special", true}},
                                    {{"id", 501}, {"content", "<|x|>"}, {"special", true}},
                                    {{"id", 502}, {"content", "<|x|><|y|>"}, {"special", false}},
                                    {{"id", 503},
                                     {"content", "<strip>"},
                                     {"special", true},
                                     {"lstrip", true},
                                     {"rstrip", true}}})},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         json::array(
             {{{"type", "Split"},
               {"pattern", {{"Regex", R"( ?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+|\s+)"}}},
               {"behavior", "Isolated"},
               {"invert", false}},
              {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}})}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", json::array({{{"SpecialToken", {{"id", "<|bos|>"}, {"type_id", 0}}}},
                                {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
        {"special_tokens",
         {{"<|bos|>", {{"id", "<|bos|>"}, {"ids", {500}}, {"tokens", {"<|bos|>"}}}}}}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", m}, {"byte_fallback", false}}},
  };
}

Tokenizer make(const json& j) {
  Result<Tokenizer> t = Tokenizer::from_json_text(j.dump(), "test");
  if (!t) throw std::runtime_error(t.error().message);
  return std::move(t).value();
}

TEST(TokenizerSynthetic, MergesLowestRankFirst) {
  // "ll" outranks "he", so "hello" is h|e|ll|o -> he|ll|o -> hell|o ("he ll").
  const Tokenizer t = make(byte_level_tokenizer({{"l", "l"}, {"h", "e"}, {"he", "ll"}}));
  const int32_t ll = *t.token_to_id("ll"), he = *t.token_to_id("he"), hell = *t.token_to_id("hell");
  EXPECT_EQ(t.encode("hello", false), (Ids{hell, 'o'}));  // ids 0..255 are the bytes
  EXPECT_EQ(t.encode("hel", false), (Ids{he, 'l'}));
  EXPECT_EQ(t.encode("lll", false), (Ids{ll, 'l'}));  // leftmost among equals
  EXPECT_EQ(t.decode(t.encode("hello world", false), false), "hello world");
}

TEST(TokenizerSynthetic, StringMergesAndPairMergesAgree) {
  json pairs = byte_level_tokenizer({{"l", "l"}, {"h", "e"}, {"he", "ll"}});
  json strings = pairs;
  strings["model"]["merges"] = json::array({"l l", "h e", "he ll"});
  EXPECT_EQ(make(pairs).encode("hello hell", false), make(strings).encode("hello hell", false));
}

TEST(TokenizerSynthetic, AddedTokensLongestFirstAndBos) {
  const Tokenizer t = make(byte_level_tokenizer({}));
  EXPECT_EQ(t.encode("<|x|><|y|>", false), (Ids{502}));
  EXPECT_EQ(t.encode("<|x|><|z|>", false).front(), 501);
  EXPECT_EQ(t.encode("<|x|>", true), (Ids{500, 501}));
  EXPECT_EQ(t.encode("", true), (Ids{500}));
  EXPECT_EQ(t.encode("", false), (Ids{}));
  // lstrip/rstrip swallow the spaces around the token.
  EXPECT_EQ(t.encode("a <strip> b", false), (Ids{'a', 503, 'b'}));
  EXPECT_EQ(t.decode(Ids{500, 'a', 501}, true), "a");
  EXPECT_EQ(t.vocab_size(), 504);
}

TEST(TokenizerSynthetic, StreamingHoldsBackPartialCharacters) {
  const Tokenizer t = make(byte_level_tokenizer({}));
  const std::string text = "\xF0\x9F\x98\x80 \xE6\x97\xA5";  // "😀 日", one token per byte
  const Ids ids = t.encode(text, false);
  ASSERT_EQ(ids.size(), text.size());
  IncrementalDetokenizer d(t, false);
  std::vector<std::string> chunks;
  for (const int32_t id : ids) chunks.push_back(d.push(id));
  EXPECT_EQ(chunks, (std::vector<std::string>{"", "", "", "\xF0\x9F\x98\x80", " ", "", "",
                                              "\xE6\x97\xA5"}));
  EXPECT_EQ(d.finish(), "");
  // A stream cut inside a character ends with U+FFFD, not half of it.
  IncrementalDetokenizer cut(t, false);
  EXPECT_EQ(cut.push(ids[0]), "");
  EXPECT_EQ(cut.push(ids[1]), "");
  EXPECT_EQ(cut.finish(), "\xEF\xBF\xBD");
}

TEST(TokenizerSynthetic, SplitBehaviours) {
  auto with_split = [](const std::string& behavior, bool invert) {
    json j = byte_level_tokenizer({{"a", "b"}});
    j["pre_tokenizer"]["pretokenizers"][0] = {{"type", "Split"},
                                              {"pattern", {{"String", "-"}}},
                                              {"behavior", behavior},
                                              {"invert", invert}};
    return make(j);
  };
  const int32_t ab = *with_split("Isolated", false).token_to_id("ab");
  const int32_t a = 'a', b = 'b', dash = '-';
  // "a-b": joined pieces would merge "ab"; split ones can't.
  EXPECT_EQ(with_split("Isolated", false).encode("a-b", false), (Ids{a, dash, b}));
  EXPECT_EQ(with_split("Removed", false).encode("a-b", false), (Ids{a, b}));
  EXPECT_EQ(with_split("Removed", false).encode("ab", false), (Ids{ab}));
  EXPECT_EQ(with_split("MergedWithPrevious", false).encode("a--b", false), (Ids{a, dash, dash, b}));
  EXPECT_EQ(with_split("Removed", true).encode("a-b", false), (Ids{dash}));
}

// Llama-3 sized vocabularies padded with reserved tokens have over 65535 added
// tokens; every one of them must load and be found, the last ones too.
TEST(TokenizerSynthetic, MoreAddedTokensThanFitIn16Bits) {
  json j = byte_level_tokenizer({});
  constexpr int32_t kFirst = 504, kCount = 70000;  // ids 500..503 are the helper's
  for (int32_t n = 0; n < kCount; ++n) {
    j["added_tokens"].push_back(
        {{"id", kFirst + n},
         {"content", "<|reserved_special_token_" + std::to_string(n) + "|>"},
         {"special", true}});
  }
  const Tokenizer t = make(j);
  EXPECT_EQ(t.vocab_size(), kFirst + kCount);
  const int32_t last = kFirst + kCount - 1;
  const std::string last_content = "<|reserved_special_token_" + std::to_string(kCount - 1) + "|>";
  EXPECT_EQ(t.token_to_id(last_content), last);
  EXPECT_EQ(t.id_to_token(last), last_content);
  EXPECT_EQ(t.encode("a" + last_content + "<|reserved_special_token_0|>", false),
            (Ids{'a', last, kFirst}));
  EXPECT_EQ(t.encode("<|x|><|y|>", false), (Ids{502}));  // the helper's still win, longest first
  EXPECT_EQ(t.decode(Ids{'a', last}, false), "a" + last_content);
  EXPECT_EQ(t.decode(Ids{'a', last}, true), "a");
}

TEST(TokenizerLoad, ErrorsNameTheFileAndProblem) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("waypoint_tokenizer_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return dir / name;
  };
  const auto missing = Tokenizer::load(dir / "nope.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("nope.json: cannot open"), std::string::npos)
      << missing.error().message;

  const auto not_json = Tokenizer::load(write("bad.json", "{\"model\": "));
  ASSERT_FALSE(not_json.ok());
  EXPECT_NE(not_json.error().message.find("bad.json: not valid JSON"), std::string::npos);

  json unigram = byte_level_tokenizer({});
  unigram["model"] = {{"type", "Unigram"}, {"vocab", json::array()}};
  const auto wrong_model = Tokenizer::load(write("unigram.json", unigram.dump()));
  ASSERT_FALSE(wrong_model.ok());
  EXPECT_NE(wrong_model.error().message.find("unigram.json: unsupported model type \"Unigram\""),
            std::string::npos)
      << wrong_model.error().message;

  json bad_pre = byte_level_tokenizer({});
  bad_pre["pre_tokenizer"] = {{"type", "BertPreTokenizer"}};
  const auto unsupported = Tokenizer::load(write("bert.json", bad_pre.dump()));
  ASSERT_FALSE(unsupported.ok());
  EXPECT_NE(unsupported.error().message.find("unsupported pre_tokenizer type"), std::string::npos);

  json bad_regex = byte_level_tokenizer({});
  bad_regex["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {{"Regex", "(unclosed"}};
  const auto regex = Tokenizer::load(write("regex.json", bad_regex.dump()));
  ASSERT_FALSE(regex.ok());
  EXPECT_NE(regex.error().message.find("bad regex"), std::string::npos);
  for (const auto& m : {missing.error().message, not_json.error().message,
                        wrong_model.error().message, regex.error().message}) {
    EXPECT_EQ(m.find('\n'), std::string::npos) << "not one line: " << m;
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace waypoint
