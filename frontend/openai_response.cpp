#include "frontend/openai_response.hpp"

#include <utility>

#include <nlohmann/json.hpp>

namespace waypoint {
namespace {

// Ordered so the bodies read in the order OpenAI documents them.
using Json = nlohmann::ordered_json;

std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

Json stop_reason_json(const std::optional<StopReason>& r) {
  if (!r) return nullptr;
  if (const auto* s = std::get_if<std::string>(&*r)) return *s;
  return std::get<int32_t>(*r);
}

Json finish_reason_json(const std::string& r) { return r.empty() ? Json(nullptr) : Json(r); }

Json usage_json(const Usage& u) {
  Json j = Json::object();
  j["prompt_tokens"] = u.prompt_tokens;
  j["completion_tokens"] = u.completion_tokens;
  j["total_tokens"] = int64_t{u.prompt_tokens} + u.completion_tokens;
  return j;
}

Json envelope(const ResponseMeta& meta, const char* object) {
  Json j = Json::object();
  j["id"] = meta.id;
  j["object"] = object;
  j["created"] = meta.created;
  j["model"] = meta.model;
  return j;
}

}  // namespace

std::string completion_response_json(const ResponseMeta& meta,
                                     const std::vector<ChoiceResult>& choices, const Usage& usage) {
  Json j = envelope(meta, "text_completion");
  Json cs = Json::array();
  for (const ChoiceResult& c : choices) {
    Json cj = Json::object();
    cj["index"] = c.index;
    cj["text"] = c.text;
    cj["logprobs"] = nullptr;
    cj["finish_reason"] = finish_reason_json(c.finish_reason);
    cj["stop_reason"] = stop_reason_json(c.stop_reason);
    if (meta.return_token_ids) {
      cj["token_ids"] = c.token_ids;
      cj["prompt_token_ids"] = c.prompt_token_ids;
    }
    cs.push_back(std::move(cj));
  }
  j["choices"] = std::move(cs);
  j["usage"] = usage_json(usage);
  return dump(j);
}

std::string chat_response_json(const ResponseMeta& meta, const std::vector<ChoiceResult>& choices,
                               const Usage& usage, const std::vector<int32_t>& prompt_token_ids) {
  Json j = envelope(meta, "chat.completion");
  Json cs = Json::array();
  for (const ChoiceResult& c : choices) {
    Json cj = Json::object();
    cj["index"] = c.index;
    cj["message"] = {{"role", "assistant"}, {"content", c.text}};
    cj["logprobs"] = nullptr;
    cj["finish_reason"] = finish_reason_json(c.finish_reason);
    cj["stop_reason"] = stop_reason_json(c.stop_reason);
    if (meta.return_token_ids) cj["token_ids"] = c.token_ids;
    cs.push_back(std::move(cj));
  }
  j["choices"] = std::move(cs);
  j["usage"] = usage_json(usage);
  if (meta.return_token_ids) j["prompt_token_ids"] = prompt_token_ids;
  return dump(j);
}

std::string completion_chunk_json(const ResponseMeta& meta, const ChunkDelta& d,
                                  bool include_usage) {
  Json j = envelope(meta, "text_completion");
  Json c = Json::object();
  c["index"] = d.index;
  c["text"] = d.text;
  c["logprobs"] = nullptr;
  c["finish_reason"] = d.finish_reason ? Json(*d.finish_reason) : Json(nullptr);
  c["stop_reason"] = stop_reason_json(d.stop_reason);
  if (meta.return_token_ids) {
    c["token_ids"] = d.token_ids;
    if (d.prompt_token_ids) c["prompt_token_ids"] = *d.prompt_token_ids;
  }
  j["choices"] = Json::array({std::move(c)});
  if (include_usage) j["usage"] = nullptr;
  return dump(j);
}

std::string chat_chunk_json(const ResponseMeta& meta, const ChunkDelta& d, bool include_usage) {
  Json j = envelope(meta, "chat.completion.chunk");
  Json delta = Json::object();
  if (d.first) delta["role"] = "assistant";
  delta["content"] = d.text;
  Json c = Json::object();
  c["index"] = d.index;
  c["delta"] = std::move(delta);
  c["logprobs"] = nullptr;
  c["finish_reason"] = d.finish_reason ? Json(*d.finish_reason) : Json(nullptr);
  // vLLM writes stop_reason only once the choice has finished.
  if (d.finish_reason) c["stop_reason"] = stop_reason_json(d.stop_reason);
  if (meta.return_token_ids) c["token_ids"] = d.token_ids;
  j["choices"] = Json::array({std::move(c)});
  if (include_usage) j["usage"] = nullptr;
  if (meta.return_token_ids && d.prompt_token_ids) j["prompt_token_ids"] = *d.prompt_token_ids;
  return dump(j);
}

std::string completion_usage_chunk_json(const ResponseMeta& meta, const Usage& usage) {
  Json j = envelope(meta, "text_completion");
  j["choices"] = Json::array();
  j["usage"] = usage_json(usage);
  return dump(j);
}

std::string chat_usage_chunk_json(const ResponseMeta& meta, const Usage& usage) {
  Json j = envelope(meta, "chat.completion.chunk");
  j["choices"] = Json::array();
  j["usage"] = usage_json(usage);
  return dump(j);
}

std::string models_json(const std::string& model, int64_t created, int32_t max_model_len) {
  Json card = Json::object();
  card["id"] = model;
  card["object"] = "model";
  card["created"] = created;
  card["owned_by"] = "waypoint";
  card["root"] = model;
  card["parent"] = nullptr;
  card["max_model_len"] = max_model_len;
  Json j = Json::object();
  j["object"] = "list";
  j["data"] = Json::array({std::move(card)});
  return dump(j);
}

std::string tokenize_json(const std::vector<int32_t>& tokens, int32_t max_model_len) {
  Json j = Json::object();
  j["count"] = tokens.size();
  j["max_model_len"] = max_model_len;
  j["tokens"] = tokens;
  return dump(j);
}

std::string detokenize_json(const std::string& text) {
  Json j = Json::object();
  j["prompt"] = text;
  return dump(j);
}

std::string sse_data(std::string_view json) {
  std::string s;
  s.reserve(json.size() + 8);
  s += "data: ";
  s += json;
  s += "\n\n";
  return s;
}

}  // namespace waypoint
