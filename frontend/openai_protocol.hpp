#pragma once
// The request side of the OpenAI-compatible API: request bodies parsed and
// validated into typed structs, and errors in OpenAI's shape. Pure functions,
// no I/O, so the HTTP server only routes and the rules live (and are tested)
// here. Where OpenAI's spec leaves a detail open, vLLM's OpenAI server (v0.10+)
// decides: its defaults, its extensions, its error texts where practical.
#include <cassert>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.hpp"
#include "proto/engine_core_request.hpp"

namespace waypoint {

struct ApiError {
  int status = 400;
  std::string message;
  // "BadRequestError" (400, 413), "NotFoundError" (404), "AuthenticationError"
  // (401), "InternalServerError" (500), "ServiceUnavailableError" (503).
  std::string type;
  std::optional<std::string> param;  // the offending request field, if one
};

ApiError bad_request(std::string message, std::optional<std::string> param = std::nullopt);
ApiError not_found(std::string message, std::optional<std::string> param = std::nullopt);
// vLLM's 404 for a request naming another model: "The model `x` does not
// exist.", param "model".
ApiError model_not_found(std::string_view model);
ApiError unauthorized(std::string message);
ApiError internal_error(std::string message);
ApiError unavailable(std::string message);
ApiError payload_too_large(std::string message);

// {"error":{"message":..,"type":..,"param":..|null,"code":status}}
std::string error_json(const ApiError& e);

// A value or an ApiError.
template <class T>
using ApiResult = Result<T, ApiError>;

// Shared by /v1/completions and /v1/chat/completions. A field sent as null
// takes its default, as in vLLM (clients send null to mean "unset").
struct GenerationParams {
  // max_tokens, or for chat max_completion_tokens (which wins when both are
  // given); nullopt: up to max_model_len. A completion request without the
  // field gets 16, OpenAI's and vLLM's default; an explicit null is nullopt.
  std::optional<int32_t> max_tokens;
  float temperature = 1.0f;  // OpenAI default
  float top_p = 1.0f;
  int32_t top_k = 0;  // vLLM: -1 or 0 disable; stored as 0
  float min_p = 0.0f;
  std::optional<int64_t> seed;
  std::vector<std::string> stop;  // "stop": a string or a list of strings, no cap (as vLLM)
  std::vector<int32_t> stop_token_ids;
  bool ignore_eos = false;
  int32_t min_tokens = 0;
  int32_t n = 1;  // only 1 is supported: anything else is a 400 naming "n"
  int32_t priority = 0;
  bool stream = false;
  // stream_options.include_usage; true when stream_options is given without it,
  // as vLLM. stream_options without stream is a 400, as vLLM.
  bool include_usage = false;
  bool return_token_ids = false;  // vLLM extension
  bool skip_special_tokens = true;
  bool include_stop_str_in_output = false;
  std::string user;

  // Converts to the engine's SamplingParams. max_tokens is copied as is; the
  // caller fills in the limit from max_model_len and the prompt length.
  SamplingParams to_sampling_params() const;
};

using PromptInput = std::variant<std::string, std::vector<int32_t>>;

struct CompletionRequest {
  std::string model;  // empty if the client omitted it (the server then uses its model)
  // "prompt": string | [string...] | [int...] | [[int...]...]; never empty, and
  // no element is empty. Token ids are >= 0; the server checks the vocab size.
  std::vector<PromptInput> prompts;
  GenerationParams params;
  bool add_special_tokens = true;  // vLLM extension: BOS etc. for text prompts
};

struct ChatCompletionRequest {
  std::string model;
  // Normalized: each message has "role" (a string) and "content" as a string
  // (text content parts [{"type":"text","text":..}] are joined with "\n"; any
  // other part type is a 400; null or missing content is allowed for assistant
  // messages and becomes ""). Other keys (name, tool_calls, ...) are kept as given.
  nlohmann::ordered_json messages;
  GenerationParams params;
  // Defaults to false when continue_final_message is true and the client did
  // not send it; both sent as true is a 400, as vLLM.
  bool add_generation_prompt = true;
  bool continue_final_message = false;
  nlohmann::ordered_json chat_template_kwargs = nlohmann::ordered_json::object();
  // vLLM extension, default false: the chat template adds the special tokens.
  bool add_special_tokens = false;
};

// POST /tokenize: either prompt or messages (vLLM's shape).
struct TokenizeRequest {
  std::string model;
  std::optional<std::string> prompt;               // may be empty
  std::optional<nlohmann::ordered_json> messages;  // normalized as ChatCompletionRequest's
  bool add_special_tokens = true;     // prompt form default true; messages form: false (vLLM)
  bool add_generation_prompt = true;  // messages form only, with the same rule as chat
  bool continue_final_message = false;
  nlohmann::ordered_json chat_template_kwargs = nlohmann::ordered_json::object();
};

struct DetokenizeRequest {
  std::string model;
  std::vector<int32_t> tokens;  // may be empty; each >= 0
};

// Each takes the raw body and checks, in order: valid UTF-8 (400 "request body
// is not valid UTF-8 (byte N: why)"), JSON that parses (400 with the parse error's
// position) and nests at most kMaxJsonDepth deep, a top-level object, then the
// type of every known field and its range, with a 400 naming the field
// ("temperature must be a number"). Unknown fields are ignored: clients send
// extras. Known but unsupported features (logprobs, best_of > 1, echo, suffix,
// tools, response_format other than text, logit_bias, penalties, guided
// decoding, ...) are a 400 naming the field when set to anything but their
// default, rather than being silently ignored.
inline constexpr int kMaxJsonDepth = 512;

ApiResult<CompletionRequest> parse_completion_request(std::string_view body);
ApiResult<ChatCompletionRequest> parse_chat_request(std::string_view body);
ApiResult<TokenizeRequest> parse_tokenize_request(std::string_view body);
ApiResult<DetokenizeRequest> parse_detokenize_request(std::string_view body);

}  // namespace waypoint
