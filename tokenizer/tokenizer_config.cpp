#include "tokenizer/tokenizer_config.hpp"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace waypoint {

namespace {
// Special tokens are written either as "<s>" or as {"content": "<s>", ...}.
std::string token_string(const nlohmann::json& config, const char* key) {
  if (!config.contains(key)) return "";
  const auto& v = config[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) {
    return v["content"].get<std::string>();
  }
  return "";
}
}  // namespace

Result<TokenizerConfig> load_tokenizer_config(const std::filesystem::path& model_dir) {
  const auto path = model_dir / "tokenizer_config.json";
  TokenizerConfig out;
  std::ifstream in(path);
  if (!in) return out;
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception& e) {
    return Error{path.string() + ": " + e.what()};
  }
  out.bos_token = token_string(config, "bos_token");
  out.eos_token = token_string(config, "eos_token");
  std::string source;
  if (config.contains("chat_template")) {
    const auto& t = config["chat_template"];
    if (t.is_string()) {
      source = t.get<std::string>();
    } else if (t.is_array()) {
      // Named templates: [{"name": "default", "template": "..."}, ...].
      for (const auto& entry : t) {
        if (entry.value("name", "") == "default" && entry.contains("template")) {
          source = entry["template"].get<std::string>();
        }
      }
    }
  }
  if (!source.empty()) {
    auto parsed = ChatTemplate::parse(source);
    if (!parsed) return Error{path.string() + ": " + parsed.error().message};
    out.chat_template.emplace(std::move(*parsed));
  }
  return out;
}

}  // namespace waypoint
