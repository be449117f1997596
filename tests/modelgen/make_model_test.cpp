// `waypoint make-model`: the directory it writes is what a Hugging Face loader expects,
// reproducible from its seed, and readable by the engine's own weight store and tokenizer.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kernels/bf16.hpp"
#include "modelgen/bpe_trainer.hpp"
#include "modelgen/model_presets.hpp"
#include "modelgen/random_weights.hpp"
#include "modelgen/tokenizer_files.hpp"
#include "tokenizer/regex.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tools/cli.hpp"
#include "worker/model_config.hpp"
#include "worker/weight_store.hpp"

namespace waypoint::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A fresh directory under the system temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "make_model_test.XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

struct Ran {
  int code;
  std::string out;
  std::string err;
};

Ran run_cli(std::vector<std::string> args) {
  std::ostringstream out, err;
  const int code = run(args, out, err);
  return {code, out.str(), err.str()};
}

Ran make_model(const fs::path& dir, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"make-model", "--out", dir.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  return run_cli(args);
}

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

json read_json(const fs::path& p) { return json::parse(read_bytes(p)); }

int64_t lines(const std::string& s) { return std::count(s.begin(), s.end(), '\n'); }

// Every tensor name and shape of a Llama model with config C.
std::vector<std::pair<std::string, std::vector<int64_t>>> expected_tensors(const json& c) {
  const int64_t h = c["hidden_size"], ff = c["intermediate_size"], v = c["vocab_size"];
  const int64_t q = c["num_attention_heads"].get<int64_t>() * c["head_dim"].get<int64_t>();
  const int64_t kv = c["num_key_value_heads"].get<int64_t>() * c["head_dim"].get<int64_t>();
  std::vector<std::pair<std::string, std::vector<int64_t>>> t = {
      {"model.embed_tokens.weight", {v, h}}, {"model.norm.weight", {h}}};
  for (int64_t l = 0; l < c["num_hidden_layers"].get<int64_t>(); ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    t.push_back({p + "self_attn.q_proj.weight", {q, h}});
    t.push_back({p + "self_attn.k_proj.weight", {kv, h}});
    t.push_back({p + "self_attn.v_proj.weight", {kv, h}});
    t.push_back({p + "self_attn.o_proj.weight", {h, q}});
    t.push_back({p + "mlp.gate_proj.weight", {ff, h}});
    t.push_back({p + "mlp.up_proj.weight", {ff, h}});
    t.push_back({p + "mlp.down_proj.weight", {h, ff}});
    t.push_back({p + "input_layernorm.weight", {h}});
    t.push_back({p + "post_attention_layernorm.weight", {h}});
  }
  if (!c["tie_word_embeddings"].get<bool>()) t.push_back({"lm_head.weight", {v, h}});
  return t;
}

// All tensors of the model in DIR, read as f32 through the engine's weight store.
std::map<std::string, std::vector<float>> load_all(const fs::path& dir) {
  const json config = read_json(dir / "config.json");
  auto store = WeightStore::open(dir);
  EXPECT_TRUE(store.ok()) << store.error().message;
  std::map<std::string, std::vector<float>> out;
  if (!store.ok()) return out;
  const auto expected = expected_tensors(config);
  EXPECT_EQ(store->names().size(), expected.size());
  for (const auto& [name, shape] : expected) {
    auto t = store->read_f32(name, shape);
    EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().message);
    if (t.ok()) out[name] = std::move(*t);
  }
  return out;
}

TEST(MakeModel, HelpExitsZero) {
  const auto r = run_cli({"make-model", "--help"});
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_NE(r.out.find("--preset"), std::string::npos);
  EXPECT_NE(r.out.find("--shards"), std::string::npos);
}

TEST(MakeModel, ListedInTopLevelHelp) {
  const auto r = run_cli({"--help"});
  EXPECT_NE(r.out.find("make-model"), std::string::npos);
}

TEST(MakeModel, TinyConfigHasLlama3Values) {
  TempDir tmp;
  const auto r = make_model(tmp.path() / "m", {"--seed", "7"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_NE(r.out.find("125,248 parameters"), std::string::npos) << r.out;
  for (const char* f :
       {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}) {
    EXPECT_TRUE(fs::is_regular_file(tmp.path() / "m" / f)) << f;
  }
  const json c = read_json(tmp.path() / "m" / "config.json");
  EXPECT_EQ(c["architectures"], json::array({"LlamaForCausalLM"}));
  EXPECT_EQ(c["model_type"], "llama");
  EXPECT_EQ(c["vocab_size"], 512);
  EXPECT_EQ(c["hidden_size"], 64);
  EXPECT_EQ(c["intermediate_size"], 176);
  EXPECT_EQ(c["num_hidden_layers"], 2);
  EXPECT_EQ(c["num_attention_heads"], 4);
  EXPECT_EQ(c["num_key_value_heads"], 2);
  EXPECT_LT(c["num_key_value_heads"], c["num_attention_heads"]);
  EXPECT_EQ(c["head_dim"], 16);
  EXPECT_DOUBLE_EQ(c["rms_norm_eps"].get<double>(), 1e-5);
  EXPECT_DOUBLE_EQ(c["rope_theta"].get<double>(), 500000.0);
  const json& rs = c["rope_scaling"];
  EXPECT_EQ(rs["rope_type"], "llama3");
  EXPECT_DOUBLE_EQ(rs["factor"].get<double>(), 8.0);
  EXPECT_DOUBLE_EQ(rs["low_freq_factor"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(rs["high_freq_factor"].get<double>(), 4.0);
  EXPECT_EQ(rs["original_max_position_embeddings"], 256);
  EXPECT_EQ(c["max_position_embeddings"], 2048);
  EXPECT_EQ(c["tie_word_embeddings"], true);
  EXPECT_EQ(c["torch_dtype"], "float32");
  EXPECT_EQ(c["hidden_act"], "silu");
}

TEST(MakeModel, SameSeedSameBytesOtherSeedOtherBytes) {
  TempDir tmp;
  ASSERT_EQ(make_model(tmp.path() / "a", {"--seed", "11"}).code, kExitOk);
  ASSERT_EQ(make_model(tmp.path() / "b", {"--seed", "11"}).code, kExitOk);
  ASSERT_EQ(make_model(tmp.path() / "c", {"--seed", "12"}).code, kExitOk);
  for (const char* f :
       {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}) {
    EXPECT_EQ(read_bytes(tmp.path() / "a" / f), read_bytes(tmp.path() / "b" / f)) << f;
  }
  EXPECT_NE(read_bytes(tmp.path() / "a" / "model.safetensors"),
            read_bytes(tmp.path() / "c" / "model.safetensors"));
  // Only the weights depend on the seed.
  EXPECT_EQ(read_bytes(tmp.path() / "a" / "tokenizer.json"),
            read_bytes(tmp.path() / "c" / "tokenizer.json"));
}

TEST(MakeModel, WeightStoreReadsEveryTensorWithItsShape) {
  TempDir tmp;
  ASSERT_EQ(make_model(tmp.path(), {"--seed", "3"}).code, kExitOk);
  const auto w = load_all(tmp.path());
  ASSERT_EQ(w.size(), 2u + 2u * 9u);  // tied: no lm_head
  // Scales as documented in random_weights.cpp.
  const auto rms = [](const std::vector<float>& v) {
    double s = 0;
    for (float x : v) s += static_cast<double>(x) * x;
    return std::sqrt(s / static_cast<double>(v.size()));
  };
  EXPECT_NEAR(rms(w.at("model.layers.0.self_attn.q_proj.weight")), 1.0 / 8.0, 0.01);
  EXPECT_NEAR(rms(w.at("model.layers.1.mlp.down_proj.weight")), 32.0 / std::sqrt(176.0), 0.1);
  for (float x : w.at("model.norm.weight")) {
    EXPECT_GT(x, 0.9f);
    EXPECT_LT(x, 1.1f);
  }
  // Distinct tensors get distinct streams.
  EXPECT_NE(w.at("model.layers.0.mlp.gate_proj.weight"), w.at("model.layers.0.mlp.up_proj.weight"));
}

TEST(MakeModel, Bf16IsF32RoundedToBf16) {
  TempDir tmp;
  ASSERT_EQ(make_model(tmp.path() / "f32", {"--seed", "5"}).code, kExitOk);
  ASSERT_EQ(make_model(tmp.path() / "bf16", {"--seed", "5", "--dtype", "bf16"}).code, kExitOk);
  EXPECT_EQ(read_json(tmp.path() / "bf16" / "config.json")["torch_dtype"], "bfloat16");
  const auto f = load_all(tmp.path() / "f32");
  const auto b = load_all(tmp.path() / "bf16");
  ASSERT_EQ(f.size(), b.size());
  size_t checked = 0;
  for (const auto& [name, values] : f) {
    const auto& bv = b.at(name);
    ASSERT_EQ(values.size(), bv.size()) << name;
    for (size_t i = 0; i < values.size(); ++i) {
      ASSERT_EQ(kernels::round_to_bf16(values[i]), bv[i]) << name << "[" << i << "]";
    }
    checked += values.size();
  }
  EXPECT_EQ(checked, 125248u);
  // bf16 halves the weight bytes.
  EXPECT_LT(fs::file_size(tmp.path() / "bf16" / "model.safetensors"),
            fs::file_size(tmp.path() / "f32" / "model.safetensors") / 2 + 4096);
}

TEST(MakeModel, ShardsHoldTheSameTensors) {
  TempDir tmp;
  ASSERT_EQ(make_model(tmp.path() / "one", {"--seed", "9"}).code, kExitOk);
  const auto r = make_model(tmp.path() / "three", {"--seed", "9", "--shards", "3"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_FALSE(fs::exists(tmp.path() / "three" / "model.safetensors"));
  const json index = read_json(tmp.path() / "three" / "model.safetensors.index.json");
  std::set<std::string> files;
  for (const auto& [name, file] : index["weight_map"].items()) files.insert(file);
  EXPECT_EQ(files.size(), 3u);
  for (const auto& f : files) EXPECT_TRUE(fs::exists(tmp.path() / "three" / f)) << f;
  EXPECT_EQ(load_all(tmp.path() / "one"), load_all(tmp.path() / "three"));
}

TEST(MakeModel, TokenizerMatchesConfig) {
  TempDir tmp;
  ASSERT_EQ(make_model(tmp.path()).code, kExitOk);
  const json c = read_json(tmp.path() / "config.json");
  const json t = read_json(tmp.path() / "tokenizer.json");
  const json& model = t["model"];
  EXPECT_EQ(model["type"], "BPE");
  ASSERT_TRUE(model["merges"].is_array());
  EXPECT_GT(model["merges"].size(), 200u);
  // Ids 0..vocab_size-1, each once, across the BPE vocabulary and the added tokens.
  std::set<int64_t> ids;
  for (const auto& [token, id] : model["vocab"].items()) ids.insert(id.get<int64_t>());
  EXPECT_EQ(ids.size(), model["vocab"].size());
  EXPECT_EQ(model["vocab"]["Ġ"], 220);  // GPT-2's and Llama-3's id for " "
  std::map<std::string, int64_t> added;
  for (const auto& a : t["added_tokens"]) {
    EXPECT_TRUE(a["special"].get<bool>());
    EXPECT_TRUE(ids.insert(a["id"].get<int64_t>()).second);
    added[a["content"]] = a["id"];
  }
  EXPECT_EQ(static_cast<int64_t>(ids.size()), c["vocab_size"].get<int64_t>());
  EXPECT_EQ(*ids.rbegin() + 1, c["vocab_size"].get<int64_t>());
  EXPECT_EQ(c["bos_token_id"], added.at("<|begin_of_text|>"));
  EXPECT_EQ(c["eos_token_id"], added.at("<|eot_id|>"));
  for (const char* s : {"<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>"}) {
    EXPECT_TRUE(added.contains(s)) << s;
  }
  EXPECT_EQ(t["pre_tokenizer"]["pretokenizers"][0]["behavior"], "Isolated");
  EXPECT_EQ(t["pre_tokenizer"]["pretokenizers"][1]["use_regex"], false);
  EXPECT_EQ(t["decoder"]["type"], "ByteLevel");
  EXPECT_EQ(t["post_processor"]["type"], "TemplateProcessing");

  const json tc = read_json(tmp.path() / "tokenizer_config.json");
  EXPECT_EQ(tc["bos_token"], "<|begin_of_text|>");
  EXPECT_EQ(tc["eos_token"], "<|eot_id|>");
  EXPECT_EQ(tc["model_max_length"], c["max_position_embeddings"]);
  EXPECT_EQ(tc["chat_template"],
            "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content "
            "= '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ "
            "message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set "
            "content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if "
            "add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' "
            "}}{% endif %}");
}

TEST(MakeModel, EngineTokenizerLoadsAndRoundTrips) {
  TempDir tmp;
  ASSERT_EQ(make_model(tmp.path()).code, kExitOk);
  auto tok = Tokenizer::load(tmp.path() / "tokenizer.json");
  ASSERT_TRUE(tok.ok()) << tok.error().message;
  EXPECT_EQ(tok->vocab_size(), 512);
  const std::string corpus(tools::builtin_corpus());
  const auto ids = tok->encode(corpus, false);
  EXPECT_EQ(tok->decode(ids, false), corpus);
  // The merges were learned on this text, so it compresses well: the engine's BPE gives
  // exactly the segmentation that applying the merges by rank gives (Hugging Face's rule).
  const json t = read_json(tmp.path() / "tokenizer.json");
  std::map<std::pair<std::string, std::string>, size_t> rank;
  for (const auto& m : t["model"]["merges"]) {
    const std::string s = m.get<std::string>();
    rank.emplace(std::make_pair(s.substr(0, s.find(' ')), s.substr(s.find(' ') + 1)), rank.size());
  }
  const auto alphabet = tools::byte_level_alphabet();
  size_t expected = 0;
  for (const auto& chunk : tools::split_llama3_ascii(corpus)) {
    std::vector<std::string> parts;
    for (unsigned char ch : chunk) parts.push_back(alphabet[ch]);
    for (;;) {
      size_t best = parts.size(), best_rank = rank.size();
      for (size_t i = 0; i + 1 < parts.size(); ++i) {
        const auto it = rank.find({parts[i], parts[i + 1]});
        if (it != rank.end() && it->second < best_rank) best = i, best_rank = it->second;
      }
      if (best == parts.size()) break;
      parts[best] += parts[best + 1];
      parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(best) + 1);
    }
    expected += parts.size();
  }
  EXPECT_EQ(ids.size(), expected);
  EXPECT_LT(ids.size() * 2, corpus.size());
  const auto with_bos = tok->encode("Hello there", true);
  ASSERT_FALSE(with_bos.empty());
  EXPECT_EQ(with_bos.front(), *tok->token_to_id("<|begin_of_text|>"));
  const auto chat = tok->encode("<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>", false);
  EXPECT_EQ(chat.front(), *tok->token_to_id("<|start_header_id|>"));
  EXPECT_EQ(chat.back(), *tok->token_to_id("<|eot_id|>"));
}

TEST(MakeModel, TrainerSplitsLikeTheLlama3Regex) {
  EXPECT_EQ(tools::split_llama3_ascii("Hello world's 12345 end!!\n\n  x"),
            (std::vector<std::string>{"Hello", " world", "'s", " ", "123", "45", " end", "!!\n\n",
                                      " ", " x"}));
  // The hand-written matcher agrees with PCRE2 running the real pattern on the corpus.
  const json t = tools::build_tokenizer_files(512, 2048).tokenizer;
  auto re = Regex::compile(
      t["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"].get<std::string>(), false);
  ASSERT_TRUE(re.ok()) << re.error().message;
  const std::string_view corpus = tools::builtin_corpus();
  std::vector<std::string> pcre;
  for (const auto& [b, e] : re->find_all(corpus)) pcre.emplace_back(corpus.substr(b, e - b));
  EXPECT_EQ(tools::split_llama3_ascii(corpus), pcre);
}

TEST(MakeModel, SmallPresetIsAbout110MParameters) {
  const auto p = tools::find_preset("small");
  ASSERT_TRUE(p.has_value());
  const json c = tools::llama_config_json(*p, 0, 0, "float32");
  int64_t params = 0;
  for (const auto& [name, shape] : expected_tensors(c)) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    params += n;
  }
  EXPECT_EQ(params, tools::parameter_count(*p));
  EXPECT_GT(params, 99'000'000);
  EXPECT_LT(params, 121'000'000);
  EXPECT_LT(c["num_key_value_heads"], c["num_attention_heads"]);
  EXPECT_EQ(c["tie_word_embeddings"], false);
  EXPECT_EQ(c["max_position_embeddings"], 8192);
  EXPECT_EQ(c["rope_scaling"]["original_max_position_embeddings"], 8192);
  // The tokenizer fills the preset's vocabulary exactly (reserved tokens pad it).
  const auto tok = tools::build_tokenizer_files(p->vocab_size, 8192);
  EXPECT_EQ(tok.vocab_size, p->vocab_size);
  EXPECT_EQ(static_cast<int64_t>(tok.tokenizer["added_tokens"].size()),
            p->vocab_size - tok.bpe_size);
}

// The *-shape presets must have the published shapes of Llama-3.2-1B and Llama-3.1-8B
// (their parameter counts are those models' exactly), since bench_cuda_step times them as
// stand-ins. Only config.json is checked: writing their weights takes gigabytes.
struct ShapeWant {
  const char* name;
  int64_t hidden, layers, q_heads, kv_heads, head_dim, intermediate, params;
  bool tied;
};

TEST(MakeModel, LlamaShapePresetsHaveThePublishedShapes) {
  for (const ShapeWant& want : {
           ShapeWant{"llama-3.2-1b-shape", 2048, 16, 32, 8, 64, 8192, 1'235'814'400, true},
           ShapeWant{"llama-3.1-8b-shape", 4096, 32, 32, 8, 128, 14336, 8'030'261'248, false},
       }) {
    SCOPED_TRACE(want.name);
    const auto p = tools::find_preset(want.name);
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(p->name, want.name);
    const json c = tools::llama_config_json(*p, 128000, 128009, "bfloat16");
    EXPECT_EQ(c["architectures"], json::array({"LlamaForCausalLM"}));
    EXPECT_EQ(c["vocab_size"], 128256);
    EXPECT_EQ(c["hidden_size"], want.hidden);
    EXPECT_EQ(c["num_hidden_layers"], want.layers);
    EXPECT_EQ(c["num_attention_heads"], want.q_heads);
    EXPECT_EQ(c["num_key_value_heads"], want.kv_heads);
    EXPECT_EQ(c["head_dim"], want.head_dim);
    EXPECT_EQ(c["intermediate_size"], want.intermediate);
    EXPECT_EQ(c["tie_word_embeddings"], want.tied);
    EXPECT_EQ(c["torch_dtype"], "bfloat16");
    EXPECT_DOUBLE_EQ(c["rope_theta"].get<double>(), 500000.0);
    const json& rs = c["rope_scaling"];
    EXPECT_EQ(rs["rope_type"], "llama3");
    EXPECT_DOUBLE_EQ(rs["factor"].get<double>(), 8.0);
    EXPECT_DOUBLE_EQ(rs["low_freq_factor"].get<double>(), 1.0);
    EXPECT_DOUBLE_EQ(rs["high_freq_factor"].get<double>(), 4.0);
    EXPECT_EQ(rs["original_max_position_embeddings"], 8192);
    EXPECT_EQ(c["max_position_embeddings"], 131072);
    int64_t params = 0;
    for (const auto& [name, shape] : expected_tensors(c)) {
      int64_t n = 1;
      for (int64_t d : shape) n *= d;
      params += n;
    }
    EXPECT_EQ(params, tools::parameter_count(*p));
    EXPECT_EQ(params, want.params);
    // The engine reads the config as it would a real checkpoint's.
    const auto parsed = parse_model_config(c.dump(), "config.json");
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    EXPECT_EQ(parsed->hidden_size, want.hidden);
    EXPECT_TRUE(parsed->rope_scaling.has_value());
  }
  // Listed, and the help says they are random stand-ins, not the real models.
  const auto names = tools::preset_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "llama-3.1-8b-shape"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "llama-3.2-1b-shape"), names.end());
  const auto help = run_cli({"make-model", "--help"});
  EXPECT_NE(help.out.find("llama-3.1-8b-shape"), std::string::npos);
  EXPECT_NE(help.out.find("NOT those models"), std::string::npos);
}

// The *-shape presets' tokenizer has Llama-3.2's layout: 128000 BPE tokens and the 256
// special ones above them, so it loads (added tokens once numbered over 127000) and the
// chat markup gets Llama-3's ids. The writer is tested directly: the weights of a
// make-model run would be gigabytes.
TEST(MakeModel, LlamaShapePresetsHaveLlama3sSpecialTokens) {
  const auto p = tools::find_preset("llama-3.2-1b-shape");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(tools::find_preset("llama-3.1-8b-shape")->special_tokens, p->special_tokens);
  const auto tok =
      tools::build_tokenizer_files(p->vocab_size, p->max_position_embeddings, p->special_tokens);
  EXPECT_EQ(tok.vocab_size, 128256);
  EXPECT_EQ(tok.bpe_size, 128000);
  EXPECT_LT(tok.learned_size, tok.bpe_size);  // the corpus teaches far fewer merges
  EXPECT_EQ(tok.bos_token_id, 128000);
  EXPECT_EQ(tok.eos_token_id, 128009);
  const json& t = tok.tokenizer;
  EXPECT_EQ(t["model"]["vocab"].size(), 128000u);
  EXPECT_EQ(t["model"]["merges"].size(), 128000u - 256u);
  const json& added = t["added_tokens"];
  ASSERT_EQ(added.size(), 256u);
  for (size_t i = 0; i < added.size(); ++i) EXPECT_EQ(added[i]["id"], 128000 + i);
  const std::map<size_t, std::string> want = {{0, "<|begin_of_text|>"},
                                              {1, "<|end_of_text|>"},
                                              {2, "<|reserved_special_token_0|>"},
                                              {4, "<|finetune_right_pad_id|>"},
                                              {5, "<|reserved_special_token_2|>"},
                                              {6, "<|start_header_id|>"},
                                              {7, "<|end_header_id|>"},
                                              {8, "<|eom_id|>"},
                                              {9, "<|eot_id|>"},
                                              {10, "<|python_tag|>"},
                                              {11, "<|reserved_special_token_3|>"},
                                              {255, "<|reserved_special_token_247|>"}};
  for (const auto& [offset, content] : want) EXPECT_EQ(added[offset]["content"], content);
  // Padding: the made-up BPE tokens and the reserved special tokens, nothing in use.
  ASSERT_FALSE(tok.padding.empty());
  EXPECT_EQ(tok.padding.front().begin, tok.learned_size);
  EXPECT_EQ(tok.padding.front().end, 128000);
  EXPECT_EQ(tok.padding.back().end, 128256);
  for (const auto& range : tok.padding) {
    EXPECT_FALSE(range.begin <= 128009 && 128009 < range.end);
    EXPECT_FALSE(range.begin <= 128000 && 128000 < range.end);
  }

  const auto loaded = Tokenizer::from_json_text(t.dump(), "tokenizer.json");
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->vocab_size(), 128256);
  const auto chat =
      loaded->encode("<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>", true);
  ASSERT_GE(chat.size(), 4u);
  EXPECT_EQ(chat[0], 128000);
  EXPECT_EQ(chat[1], 128006);
  EXPECT_NE(std::find(chat.begin(), chat.end(), 128007), chat.end());
  EXPECT_EQ(chat.back(), 128009);
  // The learned merges still tokenize the corpus whole, a token per chunk: the made-up
  // ones rank after them.
  const std::string_view corpus = tools::builtin_corpus();
  const auto ids = loaded->encode(corpus, false);
  EXPECT_EQ(ids.size(), tools::split_llama3_ascii(corpus).size());
  EXPECT_EQ(loaded->decode(ids, false), corpus);
  for (const int32_t id : ids) EXPECT_LT(id, tok.learned_size);
}

TEST(MakeModel, PortableRandomIsCentredAndBounded) {
  tools::PortableRandom rng(42);
  double sum = 0, sq = 0;
  constexpr int kN = 200000;
  for (int i = 0; i < kN; ++i) {
    const double x = rng.normal(1.0);
    ASSERT_LT(std::abs(x), 3.47);
    sum += x;
    sq += x * x;
  }
  EXPECT_NEAR(sum / kN, 0.0, 0.01);
  EXPECT_NEAR(std::sqrt(sq / kN), 1.0, 0.01);
  // Pinned values (the same from GCC and Clang): a change here changes every model.
  tools::PortableRandom a(0);
  EXPECT_EQ(a.normal(1.0), 0x1.4f603ep-2f);
  EXPECT_EQ(a.normal(1.0), 0x1.541902p-1f);
  EXPECT_EQ(a.normal(1.0), -0x1.3faa0cp-2f);
  tools::PortableRandom b(0);
  EXPECT_EQ(b.symmetric_uniform(1.0), -0x1.5c5f2p-1f);
  EXPECT_EQ(tools::tensor_seed(7, "model.norm.weight"), 0xea47dff5ed898a78ull);
}

TEST(MakeModel, NonEmptyOutNeedsForce) {
  TempDir tmp;
  std::ofstream(tmp.path() / "keep.txt") << "x";
  auto r = make_model(tmp.path());
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_EQ(lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("--force"), std::string::npos);
  r = make_model(tmp.path(), {"--force"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_TRUE(fs::exists(tmp.path() / "keep.txt"));
  // A sharded rewrite replaces the single file rather than leaving both.
  r = make_model(tmp.path(), {"--force", "--shards", "2"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_FALSE(fs::exists(tmp.path() / "model.safetensors"));
  EXPECT_TRUE(WeightStore::open(tmp.path()).ok());
}

TEST(MakeModel, UnwritableOutIsOneLine) {
  TempDir tmp;
  std::ofstream(tmp.path() / "file") << "x";
  const auto r = make_model(tmp.path() / "file" / "model");
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_EQ(lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("file/model"), std::string::npos) << r.err;
}

TEST(MakeModel, BadFlagsAreUsageErrors) {
  TempDir tmp;
  for (const auto& extra : std::vector<std::vector<std::string>>{
           {"--preset", "huge"}, {"--dtype", "f16"}, {"--shards", "0"}, {"--no-such-flag"}}) {
    const auto r = make_model(tmp.path() / "m", extra);
    EXPECT_EQ(r.code, kExitUsage) << extra[0];
    EXPECT_EQ(lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find(extra[0]), std::string::npos) << r.err;
  }
  const auto r = run_cli({"make-model"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_NE(r.err.find("--out"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace waypoint::cli
