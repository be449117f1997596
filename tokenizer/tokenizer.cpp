#include "tokenizer/tokenizer.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>

#include "tokenizer/bpe_model.hpp"
#include "tokenizer/normalizer.hpp"
#include "tokenizer/pre_tokenizer.hpp"
#include "tokenizer/token_decoder.hpp"
#include "tokenizer/utf8_lossy.hpp"

namespace waypoint {
namespace {

struct AddedToken {
  std::string content;
  int32_t id = 0;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
};

// lstrip/rstrip/single_word are honoured for ASCII whitespace and word
// characters only; HF uses Unicode classes, which no shipped token relies on.
bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool is_word_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

// The ids a post-processor puts around a single sequence.
struct Template {
  std::vector<int32_t> prefix, suffix;
};

Result<void> add_template(const nlohmann::json& j, Template& t) {
  const std::string type = j.value("type", "");
  if (type == "Sequence") {
    for (const auto& p : j.at("processors")) {
      if (Result<void> r = add_template(p, t); !r) return r;
    }
    return {};
  }
  if (type == "ByteLevel") return {};  // it only adjusts offsets, which we don't produce
  if (type == "TemplateProcessing") {
    bool seen_sequence = false;
    for (const auto& item : j.at("single")) {
      if (item.contains("Sequence")) {
        seen_sequence = true;
        continue;
      }
      const std::string name = item.at("SpecialToken").at("id").get<std::string>();
      const auto& special = j.at("special_tokens");
      if (!special.contains(name)) return Error{"template token \"" + name + "\" is not defined"};
      auto& dst = seen_sequence ? t.suffix : t.prefix;
      for (const auto& id : special.at(name).at("ids")) dst.push_back(id.get<int32_t>());
    }
    return {};
  }
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    t.prefix.push_back(j.at("cls").at(1).get<int32_t>());
    t.suffix.push_back(j.at("sep").at(1).get<int32_t>());
    return {};
  }
  return Error{"unsupported post_processor type \"" + type + "\""};
}

struct Segment {
  std::string_view text;
  const AddedToken* added;  // nullptr for ordinary text
  bool at_text_start;
};

}  // namespace

struct Tokenizer::Impl {
  Normalizer normalizer;
  PreTokenizer pre_tokenizer;
  BpeModel model;
  TokenDecoder decoder;
  Template post;
  std::vector<AddedToken> added;                         // longest content first
  std::array<std::vector<uint32_t>, 256> by_first_byte;  // indices into added
  std::unordered_map<int32_t, size_t> added_by_id;
  TokenMap added_by_content;
  int32_t vocab_size = 0;

  // Cuts text at added tokens, leftmost first and the longest where several
  // start at the same byte, as HF's Aho-Corasick (LeftmostLongest) does.
  std::vector<Segment> segment(std::string_view text) const {
    std::vector<Segment> out;
    size_t seg_start = 0;
    size_t pos = 0;
    while (pos < text.size()) {
      const AddedToken* hit = nullptr;
      for (const uint32_t idx : by_first_byte[uint8_t(text[pos])]) {
        const AddedToken& t = added[idx];
        if (text.compare(pos, t.content.size(), t.content) != 0) continue;
        const size_t end = pos + t.content.size();
        if (t.single_word && ((pos > 0 && is_word_char(text[pos - 1])) ||
                              (end < text.size() && is_word_char(text[end])))) {
          continue;
        }
        hit = &t;
        break;
      }
      if (hit == nullptr) {
        ++pos;
        continue;
      }
      size_t begin = pos, end = pos + hit->content.size();
      if (hit->lstrip) {
        while (begin > seg_start && is_space(text[begin - 1])) --begin;
      }
      if (hit->rstrip) {
        while (end < text.size() && is_space(text[end])) ++end;
      }
      if (begin > seg_start) {
        out.push_back({text.substr(seg_start, begin - seg_start), nullptr, seg_start == 0});
      }
      out.push_back({text.substr(begin, end - begin), hit, begin == 0});
      seg_start = pos = end;
    }
    if (seg_start < text.size()) {
      out.push_back({text.substr(seg_start), nullptr, seg_start == 0});
    }
    return out;
  }
};

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Result<Tokenizer> Tokenizer::load(const std::filesystem::path& tokenizer_json) {
  const std::string name = tokenizer_json.string();
  std::ifstream in(tokenizer_json, std::ios::binary);
  if (!in) return Error{name + ": cannot open: " + std::strerror(errno)};
  std::ostringstream buf;
  buf << in.rdbuf();
  if (!in && !in.eof()) return Error{name + ": read failed"};
  return from_json_text(buf.str(), name);
}

Result<Tokenizer> Tokenizer::from_json_text(std::string_view json_text, std::string_view name) {
  const std::string prefix = std::string(name) + ": ";
  nlohmann::json j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Error{prefix + "not valid JSON"};
  if (!j.is_object() || !j.contains("model") || !j["model"].is_object()) {
    return Error{prefix + "no \"model\" object; not a tokenizer.json"};
  }
  try {
    const auto& model = j["model"];
    // Files from old tokenizers versions omit the type of a BPE model.
    const std::string type = model.value("type", model.contains("merges") ? "BPE" : "");
    if (type != "BPE") return Error{prefix + "unsupported model type \"" + type + "\""};

    auto impl = std::make_unique<Impl>();
    auto null = nlohmann::json();
    Result<Normalizer> normalizer = Normalizer::from_json(j.value("normalizer", null));
    if (!normalizer) return Error{prefix + normalizer.error().message};
    impl->normalizer = std::move(normalizer).value();
    Result<PreTokenizer> pre = PreTokenizer::from_json(j.value("pre_tokenizer", null));
    if (!pre) return Error{prefix + pre.error().message};
    impl->pre_tokenizer = std::move(pre).value();
    Result<BpeModel> bpe = BpeModel::from_json(model);
    if (!bpe) return Error{prefix + bpe.error().message};
    impl->model = std::move(bpe).value();
    Result<TokenDecoder> decoder = TokenDecoder::from_json(j.value("decoder", null));
    if (!decoder) return Error{prefix + decoder.error().message};
    impl->decoder = std::move(decoder).value();
    if (j.contains("post_processor") && !j["post_processor"].is_null()) {
      if (Result<void> r = add_template(j["post_processor"], impl->post); !r) {
        return Error{prefix + r.error().message};
      }
    }

    impl->vocab_size = impl->model.size();
    if (j.contains("added_tokens") && j["added_tokens"].is_array()) {
      for (const auto& t : j["added_tokens"]) {
        AddedToken a;
        a.content = t.at("content").get<std::string>();
        a.id = t.at("id").get<int32_t>();
        a.special = t.value("special", false);
        a.lstrip = t.value("lstrip", false);
        a.rstrip = t.value("rstrip", false);
        a.single_word = t.value("single_word", false);
        if (a.content.empty()) continue;
        impl->vocab_size = std::max(impl->vocab_size, a.id + 1);
        impl->added.push_back(std::move(a));
      }
    }
    // As many as the vocabulary has ids (Llama-3's 128256-token vocabularies padded with
    // reserved tokens have over 65535 of them).
    if (impl->added.size() > UINT32_MAX) return Error{prefix + "too many added tokens"};
    std::stable_sort(impl->added.begin(), impl->added.end(),
                     [](const AddedToken& a, const AddedToken& b) {
                       return a.content.size() > b.content.size();
                     });
    for (size_t i = 0; i < impl->added.size(); ++i) {
      const AddedToken& a = impl->added[i];
      impl->by_first_byte[uint8_t(a.content[0])].push_back(uint32_t(i));
      impl->added_by_id.emplace(a.id, i);
      impl->added_by_content.emplace(a.content, a.id);
    }
    for (const auto& ids : {impl->post.prefix, impl->post.suffix}) {
      for (const int32_t id : ids) {
        if (id < 0 || id >= impl->vocab_size) {
          return Error{prefix + "post_processor id " + std::to_string(id) + " is out of range"};
        }
      }
    }
    return Tokenizer(std::move(impl));
  } catch (const nlohmann::json::exception& e) {
    return Error{prefix + "malformed tokenizer.json: " + e.what()};
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  const Impl& m = *impl_;
  const std::string valid = to_valid_utf8(text);
  std::vector<int32_t> ids;
  ids.reserve(valid.size() / 3 + 4);
  if (add_special_tokens) ids.insert(ids.end(), m.post.prefix.begin(), m.post.prefix.end());
  for (const Segment& seg : m.segment(valid)) {
    if (seg.added != nullptr) {
      ids.push_back(seg.added->id);
      continue;
    }
    const std::string normalized = m.normalizer.normalize(seg.text);
    for (const std::string& piece : m.pre_tokenizer.split(normalized, seg.at_text_start)) {
      m.model.encode(piece, ids);
    }
  }
  if (add_special_tokens) ids.insert(ids.end(), m.post.suffix.begin(), m.post.suffix.end());
  return ids;
}

std::string Tokenizer::decode_bytes(std::span<const int32_t> ids, bool skip_special_tokens) const {
  const Impl& m = *impl_;
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (const int32_t id : ids) {
    if (const auto it = m.added_by_id.find(id); it != m.added_by_id.end()) {
      const AddedToken& a = m.added[it->second];
      if (!(skip_special_tokens && a.special)) tokens.push_back(a.content);
    } else if (const std::string* t = m.model.id_to_token(id)) {
      tokens.push_back(*t);
    }
  }
  return m.decoder.decode(std::move(tokens));
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  return to_valid_utf8(decode_bytes(ids, skip_special_tokens));
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (const auto it = impl_->added_by_content.find(token); it != impl_->added_by_content.end()) {
    return it->second;
  }
  return impl_->model.token_to_id(token);
}

std::optional<std::string> Tokenizer::id_to_token(int32_t id) const {
  if (const auto it = impl_->added_by_id.find(id); it != impl_->added_by_id.end()) {
    return impl_->added[it->second].content;
  }
  if (const std::string* t = impl_->model.id_to_token(id)) return *t;
  return std::nullopt;
}

bool Tokenizer::is_special(int32_t id) const {
  const auto it = impl_->added_by_id.find(id);
  return it != impl_->added_by_id.end() && impl_->added[it->second].special;
}

int32_t Tokenizer::vocab_size() const { return impl_->vocab_size; }

}  // namespace waypoint
