#include "modelgen/tokenizer_files.hpp"

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "modelgen/bpe_trainer.hpp"

namespace waypoint::tools {
namespace {

using nlohmann::ordered_json;

// Llama-3's pre-tokenizer pattern, as its tokenizer.json spells it.
constexpr std::string_view kLlama3Pattern =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

// Written for this project (no third-party text), varied enough in words, numbers,
// contractions and punctuation that the trainer finds far more merges than the tiny
// preset needs.
constexpr std::string_view kCorpus =
    R"corpus(A waypoint is a place you pass on the way to somewhere else. Sailors wrote them in
their logs, hikers cut them into trees, and pilots still read them off their charts: a
name, a bearing, a distance. None of them is the destination, but each one tells you
that you are still on the route, and how far you have come.

The old harbour master kept a book of every ship that came into the bay. He wrote the
name of the ship, the day it arrived, the port it had left, and the weather it had seen
on the way. In the spring of 1887 he counted 342 ships; in the hard winter that followed
there were only 57. "It's not the sea that stops them," he said, "it's the ice in the
river mouth." His daughter read the book years later and found that he'd also written
down the names of the children who waited on the pier for their fathers to come home.

When a request arrives at the server, the scheduler gives it a place in the queue. At
every step it looks at the requests that are waiting and the ones that are running, and
decides how many tokens each of them may compute. A long prompt is split into chunks so
that the short ones are not kept waiting; a request that has finished gives its memory
back at once. The workers do the arithmetic, the scheduler does the bookkeeping, and the
frontend turns the numbers back into words.

We'll meet at the station at 9:30, then walk along the canal to the market. If it rains,
we're going to take the tram instead: line 4 runs every 12 minutes and stops right by the
bridge. Don't forget the map! It shows the path up the hill, the three old mills, and the
small cafe where they serve the best apple cake in the valley.

Measure twice and cut once. Start with the simplest thing that could possibly work, then
make it correct, then make it fast. Write down what you expect before you run the test,
so that the result can surprise you. When it does, believe the result and not the
expectation, and go back to find out which of your assumptions was wrong.

The garden was quiet in the early morning. Dew covered the grass, a thrush was singing
in the hedge, and the first light came through the branches of the old pear tree. She
walked slowly between the rows of beans and tomatoes, picking what was ripe and leaving
the rest for another day. By the time the sun was high, her basket was full.
)corpus";

// Meta-Llama-3-8B-Instruct's tokenizer_config.json chat_template; the "\n\n" are real
// newlines inside the template's string literals, as in the original JSON.
constexpr std::string_view kChatTemplate =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] "
    "| trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content "
    "%}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

ordered_json added_token(int64_t id, std::string_view content) {
  return {{"id", id},        {"content", content},  {"single_word", false}, {"lstrip", false},
          {"rstrip", false}, {"normalized", false}, {"special", true}};
}

ordered_json special_template_token(std::string_view name, int type_id) {
  return {{"SpecialToken", {{"id", name}, {"type_id", type_id}}}};
}

ordered_json sequence_template(std::string_view id, int type_id) {
  return {{"Sequence", {{"id", id}, {"type_id", type_id}}}};
}

// Llama-3.1's and 3.2's special tokens, by offset from the first; an empty name is a
// <|reserved_special_token_N|>, numbered in order, as are offsets 11 to 255.
constexpr std::array<std::string_view, 11> kLlama3Named = {kBeginOfText,
                                                           kEndOfText,
                                                           "",
                                                           "",
                                                           "<|finetune_right_pad_id|>",
                                                           "",
                                                           kStartHeaderId,
                                                           kEndHeaderId,
                                                           "<|eom_id|>",
                                                           kEotId,
                                                           "<|python_tag|>"};
constexpr int64_t kLlama3NumSpecials = 256;

void add_padding(std::vector<IdRange>& padding, int64_t id) {
  if (!padding.empty() && padding.back().end == id) {
    ++padding.back().end;
  } else {
    padding.push_back({id, id + 1});
  }
}

// The five special tokens after the learned BPE ones, reserved ones filling the rest.
ordered_json specials_after_learned(TokenizerFiles& files, int64_t vocab_size) {
  constexpr std::array<std::string_view, 5> kSpecials = {kBeginOfText, kEndOfText, kStartHeaderId,
                                                         kEndHeaderId, kEotId};
  const auto specials = static_cast<int64_t>(kSpecials.size());
  const int64_t first = files.bpe_size;
  files.bos_token_id = first;      // kSpecials[0]
  files.eos_token_id = first + 4;  // kSpecials[4]
  ordered_json added = ordered_json::array();
  for (int64_t i = 0; i < specials; ++i) added.push_back(added_token(first + i, kSpecials[i]));
  for (int64_t id = first + specials, n = 0; id < vocab_size; ++id, ++n) {
    added.push_back(added_token(id, "<|reserved_special_token_" + std::to_string(n) + "|>"));
    add_padding(files.padding, id);
  }
  files.vocab_size = std::max(vocab_size, first + specials);
  return added;
}

// Llama-3's 256 special tokens after the BPE ones (which fill all ids below them).
ordered_json llama3_specials(TokenizerFiles& files) {
  const int64_t first = files.bpe_size;
  files.bos_token_id = first;
  files.eos_token_id = first + 9;  // <|eot_id|>, which ends a turn of the chat template
  ordered_json added = ordered_json::array();
  int64_t reserved = 0;
  for (int64_t offset = 0; offset < kLlama3NumSpecials; ++offset) {
    const auto named = static_cast<size_t>(offset);
    if (named < kLlama3Named.size() && !kLlama3Named[named].empty()) {
      added.push_back(added_token(first + offset, kLlama3Named[named]));
      continue;
    }
    added.push_back(added_token(first + offset,
                                "<|reserved_special_token_" + std::to_string(reserved++) + "|>"));
    add_padding(files.padding, first + offset);
  }
  files.vocab_size = first + kLlama3NumSpecials;
  return added;
}

}  // namespace

std::string_view builtin_corpus() { return kCorpus; }
std::string_view llama3_chat_template() { return kChatTemplate; }

TokenizerFiles build_tokenizer_files(int64_t vocab_size, int64_t model_max_length,
                                     SpecialTokens layout) {
  const bool llama3 = layout == SpecialTokens::kLlama3;
  // The five named tokens of kAfterLearned come out of the BPE part's share.
  const int64_t bpe_target = std::max<int64_t>(vocab_size - (llama3 ? kLlama3NumSpecials : 5), 256);
  BpeVocabulary bpe = train_byte_level_bpe(kCorpus, static_cast<size_t>(bpe_target));

  TokenizerFiles files;
  files.learned_size = static_cast<int64_t>(bpe.tokens.size());
  if (llama3) pad_byte_level_bpe(bpe, static_cast<size_t>(bpe_target));
  files.bpe_size = static_cast<int64_t>(bpe.tokens.size());
  if (files.bpe_size > files.learned_size)
    files.padding.push_back({files.learned_size, files.bpe_size});
  ordered_json added = llama3 ? llama3_specials(files) : specials_after_learned(files, vocab_size);

  // Appended, not inserted: an ordered_json object finds a key by a linear search, which
  // for Llama-3's 128000 tokens would take seconds, and the tokens are distinct anyway.
  ordered_json vocab = ordered_json::object();
  auto& entries = vocab.get_ref<ordered_json::object_t&>();
  entries.reserve(bpe.tokens.size());
  for (size_t id = 0; id < bpe.tokens.size(); ++id) entries.emplace_back(bpe.tokens[id], id);
  // "left right" strings: byte-level tokens never contain a space (it is "Ġ"), and every
  // tokenizers release reads this form.
  ordered_json merges = ordered_json::array();
  for (const auto& [l, r] : bpe.merges) merges.push_back(l + " " + r);

  const int64_t bos = files.bos_token_id;
  files.tokenizer = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", std::move(added)},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers", ordered_json::array({{{"type", "Split"},
                                                {"pattern", {{"Regex", kLlama3Pattern}}},
                                                {"behavior", "Isolated"},
                                                {"invert", false}},
                                               {{"type", "ByteLevel"},
                                                {"add_prefix_space", false},
                                                {"trim_offsets", true},
                                                {"use_regex", false}}})}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single",
         ordered_json::array({special_template_token(kBeginOfText, 0), sequence_template("A", 0)})},
        {"pair",
         ordered_json::array({special_template_token(kBeginOfText, 0), sequence_template("A", 0),
                              special_template_token(kBeginOfText, 1), sequence_template("B", 1)})},
        {"special_tokens",
         {{kBeginOfText,
           {{"id", kBeginOfText},
            {"ids", ordered_json::array({bos})},
            {"tokens", ordered_json::array({kBeginOfText})}}}}}}},
      {"decoder",
       {{"type", "ByteLevel"},
        {"add_prefix_space", true},
        {"trim_offsets", true},
        {"use_regex", true}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr},
        {"fuse_unk", false},
        {"byte_fallback", false},
        {"vocab", std::move(vocab)},
        {"merges", std::move(merges)}}}};

  files.tokenizer_config = {
      {"bos_token", kBeginOfText},
      {"eos_token", kEotId},
      {"chat_template", kChatTemplate},
      {"clean_up_tokenization_spaces", true},
      {"model_input_names", ordered_json::array({"input_ids", "attention_mask"})},
      {"model_max_length", model_max_length},
      {"tokenizer_class", "PreTrainedTokenizerFast"}};
  return files;
}

}  // namespace waypoint::tools
