#pragma once
// The response side of the OpenAI-compatible API: JSON bodies, streamed chunks
// and their server-sent-event framing. Pure functions, no I/O. Every function
// returns compact JSON; text that is not valid UTF-8 is written with U+FFFD in
// place of the bad bytes rather than throwing.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace waypoint {

struct Usage {
  int32_t prompt_tokens = 0;
  int32_t completion_tokens = 0;  // total_tokens is the sum
};

// vLLM's stop_reason: the stop string or stop token id that ended the choice;
// null when it ended on EOS, length or otherwise.
using StopReason = std::variant<std::string, int32_t>;

// One finished choice.
struct ChoiceResult {
  int32_t index = 0;
  std::string text;
  std::string finish_reason;  // "stop" | "length" | "abort" | "error"; empty writes null
  std::optional<StopReason> stop_reason;
  std::vector<int32_t> token_ids;         // only written when return_token_ids
  std::vector<int32_t> prompt_token_ids;  // completions: per choice, as vLLM; ditto
};

struct ResponseMeta {
  std::string id;  // "cmpl-..." / "chatcmpl-..."
  int64_t created = 0;
  std::string model;
  bool return_token_ids = false;
};

// object "text_completion"; choices [{index, text, logprobs: null, finish_reason,
// stop_reason, (token_ids, prompt_token_ids)}], usage.
std::string completion_response_json(const ResponseMeta& meta,
                                     const std::vector<ChoiceResult>& choices, const Usage& usage);

// object "chat.completion"; choices [{index, message: {role: "assistant", content},
// logprobs: null, finish_reason, stop_reason, (token_ids)}], usage, and at the
// top level "prompt_token_ids" when return_token_ids.
std::string chat_response_json(const ResponseMeta& meta, const std::vector<ChoiceResult>& choices,
                               const Usage& usage, const std::vector<int32_t>& prompt_token_ids);

// One streamed chunk of one choice. finish_reason is null until the last chunk
// of that choice.
struct ChunkDelta {
  int32_t index = 0;
  std::string text;
  std::optional<std::string> finish_reason;
  std::optional<StopReason> stop_reason;
  bool first = false;              // chat: the first chunk carries delta.role = "assistant"
  std::vector<int32_t> token_ids;  // when return_token_ids: this chunk's new ids
  std::optional<std::vector<int32_t>> prompt_token_ids;  // when return_token_ids: first chunk
};

// With stream_options.include_usage, OpenAI writes "usage": null on every chunk
// but the final usage-only one; without it there is no usage key at all.
//
// object "text_completion": choices [{index, text, logprobs: null, finish_reason,
// stop_reason, (token_ids), (prompt_token_ids)}].
std::string completion_chunk_json(const ResponseMeta& meta, const ChunkDelta& delta,
                                  bool include_usage);
// object "chat.completion.chunk": choices [{index, delta: {(role), content},
// logprobs: null, finish_reason, (stop_reason once finished), (token_ids)}], and
// "prompt_token_ids" at the top level when given (as vLLM).
std::string chat_chunk_json(const ResponseMeta& meta, const ChunkDelta& delta, bool include_usage);

// The final chunk of stream_options.include_usage: "choices": [] and "usage".
std::string completion_usage_chunk_json(const ResponseMeta& meta, const Usage& usage);
std::string chat_usage_chunk_json(const ResponseMeta& meta, const Usage& usage);

// {"object":"list","data":[{"id","object":"model","created","owned_by":"waypoint",
// "root":model,"parent":null,"max_model_len"}]}
std::string models_json(const std::string& model, int64_t created, int32_t max_model_len);
// {"count","max_model_len","tokens"}
std::string tokenize_json(const std::vector<int32_t>& tokens, int32_t max_model_len);
// {"prompt": text}
std::string detokenize_json(const std::string& text);

// One server-sent event: "data: " + json + "\n\n". json must be one line, as
// every function above returns.
std::string sse_data(std::string_view json);
inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";

}  // namespace waypoint
