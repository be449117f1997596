#include "worker/model_config.hpp"

#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

namespace waypoint {
namespace {

using nlohmann::json;

// Reads fields of one JSON object, keeping the first problem met; later reads after an
// error are no-ops, so a caller checks once at the end.
class FieldReader {
 public:
  FieldReader(const json& j, std::string source) : j_(j), source_(std::move(source)) {}

  bool has(const char* key) const { return j_.contains(key) && !j_.at(key).is_null(); }

  std::optional<int64_t> opt_int(const char* key) {
    if (!has(key)) return std::nullopt;
    return as_int(j_.at(key), key);
  }
  int64_t req_int(const char* key) {
    if (!has(key)) {
      fail(std::string("missing '") + key + "'");
      return 0;
    }
    return opt_int(key).value_or(0);
  }
  double num(const char* key, double def) {
    if (!has(key)) return def;
    const json& v = j_.at(key);
    if (!v.is_number()) {
      fail(std::string("'") + key + "' must be a number, got " + v.dump());
      return def;
    }
    return v.get<double>();
  }
  bool boolean(const char* key, bool def) {
    if (!has(key)) return def;
    const json& v = j_.at(key);
    if (!v.is_boolean()) {
      fail(std::string("'") + key + "' must be true or false, got " + v.dump());
      return def;
    }
    return v.get<bool>();
  }
  std::optional<std::string> opt_string(const char* key) {
    if (!has(key)) return std::nullopt;
    const json& v = j_.at(key);
    if (!v.is_string()) {
      fail(std::string("'") + key + "' must be a string, got " + v.dump());
      return std::nullopt;
    }
    return v.get<std::string>();
  }
  // A token id that config.json may give as one int or a list of them (take the first).
  std::optional<int32_t> token_id(const char* key) {
    if (!has(key)) return std::nullopt;
    const json& v = j_.at(key);
    const json* first = &v;
    if (v.is_array()) {
      if (v.empty()) return std::nullopt;
      first = &v.front();
    }
    const auto id = as_int(*first, key);
    if (!id) return std::nullopt;
    return to_i32(*id, key);
  }
  int32_t to_i32(int64_t v, const char* key) {
    if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) {
      fail(std::string("'") + key + "' = " + std::to_string(v) + " is out of range");
      return 0;
    }
    return static_cast<int32_t>(v);
  }

  void fail(std::string problem) {
    if (!error_) error_ = Error{source_ + ": " + std::move(problem)};
  }
  const std::optional<Error>& error() const { return error_; }

 private:
  std::optional<int64_t> as_int(const json& v, const char* key) {
    if (v.is_number_integer()) return v.get<int64_t>();
    // Some exporters write 4096.0; accept a float only when it is integral.
    if (v.is_number_float()) {
      const double d = v.get<double>();
      if (d == static_cast<double>(static_cast<int64_t>(d))) return static_cast<int64_t>(d);
    }
    fail(std::string("'") + key + "' must be an integer, got " + v.dump());
    return std::nullopt;
  }

  const json& j_;
  std::string source_;
  std::optional<Error> error_;
};

constexpr const char* kSupported = "LlamaForCausalLM, Qwen2ForCausalLM";

std::optional<std::string> architecture_of(const json& j, FieldReader& f) {
  if (j.contains("architectures") && !j.at("architectures").is_null()) {
    const json& a = j.at("architectures");
    if (!a.is_array() || a.empty() || !a.front().is_string()) {
      f.fail("'architectures' must be a non-empty list of strings, got " + a.dump());
      return std::nullopt;
    }
    return a.front().get<std::string>();
  }
  // Older configs carry only model_type; map the two families we know.
  const auto model_type = f.opt_string("model_type");
  if (model_type == "llama") return "LlamaForCausalLM";
  if (model_type == "qwen2") return "Qwen2ForCausalLM";
  f.fail(model_type ? "unknown model_type '" + *model_type +
                          "' and no 'architectures' (supported: " + kSupported + ")"
                    : std::string("no 'architectures' (supported: ") + kSupported + ")");
  return std::nullopt;
}

void read_rope_scaling(const json& j, FieldReader& f, ModelConfig& c) {
  if (!j.contains("rope_scaling") || j.at("rope_scaling").is_null()) return;
  const json& rs = j.at("rope_scaling");
  if (!rs.is_object()) {
    f.fail("'rope_scaling' must be an object or null, got " + rs.dump());
    return;
  }
  FieldReader r(rs, "");
  auto type = r.opt_string("rope_type");
  if (!type) type = r.opt_string("type");
  // "default" is how newer transformers spell "no scaling".
  if (type == "default") return;
  if (type != "llama3") {
    f.fail("rope_scaling type '" + type.value_or("") + "' is not supported (supported: llama3)");
    return;
  }
  Llama3RopeScaling s;
  s.factor = r.num("factor", s.factor);
  s.low_freq_factor = r.num("low_freq_factor", s.low_freq_factor);
  s.high_freq_factor = r.num("high_freq_factor", s.high_freq_factor);
  s.original_max_position_embeddings =
      r.opt_int("original_max_position_embeddings").value_or(s.original_max_position_embeddings);
  if (r.error()) {
    // r's messages start with ": "; strip it and say where the field lives.
    f.fail("rope_scaling" + r.error()->message.substr(1));
    return;
  }
  if (s.factor <= 0 || s.low_freq_factor <= 0 || s.high_freq_factor <= s.low_freq_factor ||
      s.original_max_position_embeddings <= 0) {
    f.fail(
        "rope_scaling llama3 needs factor > 0, 0 < low_freq_factor < high_freq_factor and "
        "original_max_position_embeddings > 0, got " +
        rs.dump());
    return;
  }
  c.rope_scaling = s;
}

}  // namespace

Result<void> validate_model_config(const ModelConfig& c, const std::string& source) {
  auto bad = [&](const std::string& problem) { return Error{source + ": " + problem}; };
  const std::pair<const char*, int32_t> positive[] = {
      {"vocab_size", c.vocab_size},
      {"hidden_size", c.hidden_size},
      {"intermediate_size", c.intermediate_size},
      {"num_hidden_layers", c.num_hidden_layers},
      {"num_attention_heads", c.num_attention_heads},
      {"num_key_value_heads", c.num_key_value_heads},
      {"head_dim", c.head_dim},
      {"max_position_embeddings", c.max_position_embeddings},
  };
  for (const auto& [name, v] : positive) {
    if (v <= 0)
      return bad(std::string("'") + name + "' must be positive, got " + std::to_string(v));
  }
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    return bad("num_attention_heads (" + std::to_string(c.num_attention_heads) +
               ") is not a multiple of num_key_value_heads (" +
               std::to_string(c.num_key_value_heads) + ")");
  }
  // RoPE rotates pairs, so an odd head_dim has no meaning.
  if (c.head_dim % 2 != 0) return bad("head_dim " + std::to_string(c.head_dim) + " is odd");
  if (!(c.rms_norm_eps > 0)) return bad("'rms_norm_eps' must be positive");
  if (!(c.rope_theta > 0)) return bad("'rope_theta' must be positive");
  const auto check_token = [&](const char* name, const std::optional<int32_t>& id) {
    return !id || (*id >= 0 && *id < c.vocab_size)
               ? std::string()
               : std::string("'") + name + "' " + std::to_string(*id) +
                     " is outside the vocabulary (vocab_size " + std::to_string(c.vocab_size) + ")";
  };
  for (const auto& msg :
       {check_token("bos_token_id", c.bos_token_id), check_token("eos_token_id", c.eos_token_id)}) {
    if (!msg.empty()) return bad(msg);
  }
  return {};
}

Result<ModelConfig> parse_model_config(std::string_view text, const std::string& source) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Error{source + ": not valid JSON"};
  if (!j.is_object()) return Error{source + ": expected a JSON object at the top level"};

  FieldReader f(j, source);
  ModelConfig c;
  const auto arch = architecture_of(j, f);
  if (f.error()) return *f.error();
  if (*arch != "LlamaForCausalLM" && *arch != "Qwen2ForCausalLM") {
    return Error{source + ": unknown architecture '" + *arch + "' (supported: " + kSupported + ")"};
  }
  c.architecture = *arch;
  const bool qwen2 = c.architecture == "Qwen2ForCausalLM";

  c.vocab_size = f.to_i32(f.req_int("vocab_size"), "vocab_size");
  c.hidden_size = f.to_i32(f.req_int("hidden_size"), "hidden_size");
  c.intermediate_size = f.to_i32(f.req_int("intermediate_size"), "intermediate_size");
  c.num_hidden_layers = f.to_i32(f.req_int("num_hidden_layers"), "num_hidden_layers");
  c.num_attention_heads = f.to_i32(f.req_int("num_attention_heads"), "num_attention_heads");
  c.num_key_value_heads = f.to_i32(f.opt_int("num_key_value_heads").value_or(c.num_attention_heads),
                                   "num_key_value_heads");
  const auto head_dim = f.opt_int("head_dim");
  c.rms_norm_eps = f.num("rms_norm_eps", c.rms_norm_eps);
  c.rope_theta = f.num("rope_theta", c.rope_theta);
  c.max_position_embeddings =
      f.to_i32(f.opt_int("max_position_embeddings").value_or(c.max_position_embeddings),
               "max_position_embeddings");
  c.tie_word_embeddings = f.boolean("tie_word_embeddings", false);
  // Qwen2 always has q/k/v biases and its config does not say so.
  c.attention_bias = qwen2 || f.boolean("attention_bias", false);
  if (!qwen2 && f.boolean("mlp_bias", false)) f.fail("'mlp_bias': true is not supported");
  c.bos_token_id = f.token_id("bos_token_id");
  c.eos_token_id = f.token_id("eos_token_id");
  // transformers >= 4.56 writes "dtype"; older versions "torch_dtype".
  if (auto d = f.opt_string("torch_dtype")) {
    c.torch_dtype = *d;
  } else if (auto d2 = f.opt_string("dtype")) {
    c.torch_dtype = *d2;
  }
  read_rope_scaling(j, f, c);
  if (f.error()) return *f.error();

  if (head_dim) {
    c.head_dim = f.to_i32(*head_dim, "head_dim");
  } else {
    if (c.num_attention_heads > 0 && c.hidden_size % c.num_attention_heads != 0) {
      return Error{source + ": hidden_size (" + std::to_string(c.hidden_size) +
                   ") is not divisible by num_attention_heads (" +
                   std::to_string(c.num_attention_heads) + ")"};
    }
    c.head_dim = c.num_attention_heads > 0 ? c.hidden_size / c.num_attention_heads : 0;
  }
  if (f.error()) return *f.error();
  if (auto v = validate_model_config(c, source); !v) return v.error();
  return c;
}

Result<ModelConfig> load_model_config(const std::filesystem::path& model_dir) {
  const auto file = model_dir / "config.json";
  const std::string source = file.string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) return Error{source + ": not found"};
  std::ifstream in(file, std::ios::binary);
  if (!in) return Error{source + ": cannot be opened"};
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Error{source + ": read failed"};
  return parse_model_config(text.str(), source);
}

}  // namespace waypoint
