#pragma once
// What a Hugging Face model directory's tokenizer_config.json tells the
// server: the chat template and the special-token strings templates use.
#include <filesystem>
#include <optional>
#include <string>

#include "base/result.hpp"
#include "tokenizer/chat_template.hpp"

namespace waypoint {

struct TokenizerConfig {
  std::optional<ChatTemplate> chat_template;  // absent: /v1/chat/completions answers 400
  std::string bos_token;
  std::string eos_token;
};

// A missing file gives an empty config; a malformed one, or a template that
// does not parse, gives an error naming the file.
Result<TokenizerConfig> load_tokenizer_config(const std::filesystem::path& model_dir);

}  // namespace waypoint
