#include "frontend/openai_protocol.hpp"

#include <charconv>
#include <cmath>
#include <limits>
#include <string>
#include <tuple>
#include <utility>

#include "tokenizer/utf8.hpp"

namespace waypoint {
namespace {

using Json = nlohmann::ordered_json;

// Thrown by the field readers below and caught at each parse_* entry point:
// the first bad field ends the request, wherever it is found.
struct Rejected {
  ApiError error;
};

[[noreturn]] void reject(std::string message, std::optional<std::string> param) {
  throw Rejected{bad_request(std::move(message), std::move(param))};
}

[[noreturn]] void unsupported(const std::string& key, const std::string& what) {
  reject(what + " is not supported by this server", key);
}

std::string format_number(double x) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, r.ptr);
}

// Deeply nested JSON would overflow the stack later: nlohmann's copy and dump,
// and the chat template, recurse. A scan for brackets outside strings bounds it
// before parsing; malformed input the scan misreads fails the parse anyway.
bool nests_too_deep(std::string_view s) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return true;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return false;
}

Json parse_body(std::string_view body) {
  const Utf8Validation v = validate_utf8(body);
  if (!v.ok()) {
    reject("request body is not valid UTF-8 (byte " + std::to_string(v.offset) + ": " +
               utf8_error_name(v.error) + ")",
           std::nullopt);
  }
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    reject("request body is empty; expected a JSON object", std::nullopt);
  }
  if (nests_too_deep(body)) {
    reject("request body nests JSON deeper than " + std::to_string(kMaxJsonDepth) + " levels",
           std::nullopt);
  }
  Json j;
  try {
    j = Json::parse(body);
  } catch (const Json::parse_error& e) {
    // what() starts with "[json.exception.parse_error.101] ", which is noise to a client.
    std::string what = e.what();
    if (const size_t p = what.find("] "); what.starts_with("[json.exception.") && p != what.npos) {
      what.erase(0, p + 2);
    }
    reject("invalid JSON in request body: " + what, std::nullopt);
  }
  if (!j.is_object()) reject("request body must be a JSON object", std::nullopt);
  return j;
}

// The field, or nullptr when it is absent or null: clients send null for "unset".
const Json* field(const Json& obj, const char* key) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

bool has_field(const Json& obj, const char* key) { return field(obj, key) != nullptr; }

std::optional<bool> get_bool(const Json& obj, const char* key) {
  const Json* v = field(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) reject(std::string(key) + " must be a boolean", key);
  return v->get<bool>();
}

std::optional<std::string> get_string(const Json& obj, const char* key) {
  const Json* v = field(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) reject(std::string(key) + " must be a string", key);
  return v->get<std::string>();
}

// A JSON number that fits in float (the engine's type), finite.
std::optional<double> get_number(const Json& obj, const char* key) {
  const Json* v = field(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_number()) reject(std::string(key) + " must be a number", key);
  const double x = v->get<double>();
  if (!std::isfinite(x) || std::fabs(x) > std::numeric_limits<float>::max()) {
    reject(std::string(key) + " is out of range", key);
  }
  return x;
}

// An integer in [lo, hi]. A float with no fractional part (16.0, as Python's
// json.dumps writes it) counts, as it does for vLLM's pydantic models.
std::optional<int64_t> json_integer(const Json& v, const std::string& name, int64_t lo,
                                    int64_t hi) {
  int64_t x = 0;
  bool in_range = true;
  if (v.is_number_unsigned()) {
    const auto u = v.get<uint64_t>();
    in_range = u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    x = static_cast<int64_t>(u);
  } else if (v.is_number_integer()) {
    x = v.get<int64_t>();
  } else if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::trunc(d) != d) reject(name + " must be an integer", name);
    // 2^63 is exact in double; anything at or past it does not fit.
    in_range = d >= -9223372036854775808.0 && d < 9223372036854775808.0;
    if (in_range) x = static_cast<int64_t>(d);
  } else {
    reject(name + " must be an integer", name);
  }
  if (!in_range || x < lo || x > hi) {
    reject(name + " must be between " + std::to_string(lo) + " and " + std::to_string(hi), name);
  }
  return x;
}

std::optional<int64_t> get_integer(const Json& obj, const char* key,
                                   int64_t lo = std::numeric_limits<int64_t>::min(),
                                   int64_t hi = std::numeric_limits<int64_t>::max()) {
  const Json* v = field(obj, key);
  if (!v) return std::nullopt;
  return json_integer(*v, key, lo, hi);
}

std::optional<int32_t> get_int32(const Json& obj, const char* key) {
  const auto x = get_integer(obj, key, std::numeric_limits<int32_t>::min(),
                             std::numeric_limits<int32_t>::max());
  if (!x) return std::nullopt;
  return static_cast<int32_t>(*x);
}

int32_t token_id(const Json& v, const std::string& name) {
  constexpr int64_t kMax = std::numeric_limits<int32_t>::max();
  const bool ok = (v.is_number_unsigned() && v.get<uint64_t>() <= kMax) ||
                  (v.is_number_integer() && v.get<int64_t>() >= 0 && v.get<int64_t>() <= kMax) ||
                  (v.is_number_float() && std::trunc(v.get<double>()) == v.get<double>() &&
                   v.get<double>() >= 0 && v.get<double>() <= kMax);
  if (!ok) reject(name + " must contain only token ids (integers from 0 to 2147483647)", name);
  return static_cast<int32_t>(v.get<double>());
}

std::vector<int32_t> token_list(const Json& v, const std::string& name) {
  if (!v.is_array()) reject(name + " must be a list of token ids", name);
  std::vector<int32_t> ids;
  ids.reserve(v.size());
  for (const Json& t : v) ids.push_back(token_id(t, name));
  return ids;
}

std::string model_of(const Json& body) { return get_string(body, "model").value_or(""); }

// --- Known but unsupported features -----------------------------------------

void reject_if_true(const Json& body, const char* key, const std::string& what) {
  if (get_bool(body, key).value_or(false)) unsupported(key, what);
}

void reject_if_set(const Json& body, const char* key, const std::string& what) {
  if (has_field(body, key)) unsupported(key, what);
}

void reject_if_nonempty(const Json& body, const char* key, const std::string& what,
                        Json::value_t type) {
  const Json* v = field(body, key);
  if (!v) return;
  if (v->type() != type) {
    reject(std::string(key) + " must be " + (type == Json::value_t::array ? "a list" : "an object"),
           key);
  }
  if (!v->empty()) unsupported(key, what);
}

// presence_penalty, frequency_penalty: vLLM's range check, then 0 is the only
// value the engine honours.
void reject_penalty(const Json& body, const char* key) {
  const auto x = get_number(body, key);
  if (!x) return;
  if (*x < -2.0 || *x > 2.0) {
    reject(std::string(key) + " must be in [-2, 2], got " + format_number(*x), key);
  }
  if (*x != 0.0) unsupported(key, key);
}

void check_unsupported_common(const Json& body) {
  reject_penalty(body, "presence_penalty");
  reject_penalty(body, "frequency_penalty");
  if (const auto rp = get_number(body, "repetition_penalty")) {
    if (*rp <= 0.0) {
      reject("repetition_penalty must be greater than zero, got " + format_number(*rp),
             "repetition_penalty");
    }
    if (*rp != 1.0) unsupported("repetition_penalty", "repetition_penalty");
  }
  reject_if_nonempty(body, "logit_bias", "logit_bias", Json::value_t::object);
  if (const auto best_of = get_int32(body, "best_of"); best_of && *best_of != 1) {
    unsupported("best_of", "best_of other than 1");
  }
  reject_if_true(body, "use_beam_search", "beam search");
  reject_if_set(body, "prompt_logprobs", "prompt_logprobs");
  reject_if_set(body, "truncate_prompt_tokens", "truncate_prompt_tokens");
  reject_if_set(body, "allowed_token_ids", "allowed_token_ids");
  reject_if_nonempty(body, "bad_words", "bad_words", Json::value_t::array);
  reject_if_set(body, "logits_processors", "logits_processors");
  for (const char* key : {"guided_json", "guided_regex", "guided_choice", "guided_grammar",
                          "structural_tag", "structured_outputs"}) {
    reject_if_set(body, key, "guided decoding");
  }
  if (const Json* rf = field(body, "response_format")) {
    if (!rf->is_object()) reject("response_format must be an object", "response_format");
    const Json* type = field(*rf, "type");
    if (!type || !type->is_string()) {
      reject("response_format.type must be a string", "response_format");
    }
    if (*type != "text") {
      unsupported("response_format", "response_format of type '" + type->get<std::string>() + "'");
    }
  }
}

// --- Shared sampling fields ---------------------------------------------------

std::vector<std::string> parse_stop(const Json& body) {
  const Json* v = field(body, "stop");
  if (!v) return {};
  if (v->is_string()) return {v->get<std::string>()};
  if (!v->is_array()) reject("stop must be a string or a list of strings", "stop");
  std::vector<std::string> stop;
  stop.reserve(v->size());
  for (const Json& s : *v) {
    if (!s.is_string()) reject("stop must be a string or a list of strings", "stop");
    stop.push_back(s.get<std::string>());
  }
  return stop;
}

void parse_stream_options(const Json& body, GenerationParams& p) {
  const Json* so = field(body, "stream_options");
  if (!so) return;
  if (!so->is_object()) reject("stream_options must be an object", "stream_options");
  // As vLLM: only a non-empty stream_options needs stream (an empty one is falsy there).
  if (!so->empty() && !p.stream) {
    reject("stream_options can only be defined when stream is true", "stream_options");
  }
  if (const Json* iu = field(*so, "include_usage")) {
    if (!iu->is_boolean()) {
      reject("stream_options.include_usage must be a boolean", "stream_options");
    }
    p.include_usage = iu->get<bool>();
  } else {
    p.include_usage = true;  // vLLM's StreamOptions default
  }
  if (const Json* cu = field(*so, "continuous_usage_stats")) {
    if (!cu->is_boolean()) {
      reject("stream_options.continuous_usage_stats must be a boolean", "stream_options");
    }
    if (cu->get<bool>()) unsupported("stream_options", "stream_options.continuous_usage_stats");
  }
  if (!p.stream) p.include_usage = false;
}

std::optional<int32_t> get_max_tokens(const Json& body, const char* key) {
  const auto x = get_int32(body, key);
  if (x && *x < 1) reject(std::string(key) + " must be at least 1, got " + std::to_string(*x), key);
  return x;
}

// Everything but max_tokens, which differs by endpoint; min_tokens is checked
// against it by the caller.
GenerationParams parse_generation_params(const Json& body) {
  check_unsupported_common(body);
  GenerationParams p;
  if (const auto t = get_number(body, "temperature")) {
    if (*t < 0.0) {
      reject("temperature must be non-negative, got " + format_number(*t), "temperature");
    }
    p.temperature = static_cast<float>(*t);
  }
  if (const auto t = get_number(body, "top_p")) {
    if (*t <= 0.0 || *t > 1.0) reject("top_p must be in (0, 1], got " + format_number(*t), "top_p");
    p.top_p = static_cast<float>(*t);
  }
  if (const auto k = get_int32(body, "top_k")) {
    if (*k < -1) {
      reject("top_k must be -1 or 0 (disabled), or at least 1, got " + std::to_string(*k), "top_k");
    }
    p.top_k = *k > 0 ? *k : 0;
  }
  if (const auto m = get_number(body, "min_p")) {
    if (*m < 0.0 || *m > 1.0) reject("min_p must be in [0, 1], got " + format_number(*m), "min_p");
    p.min_p = static_cast<float>(*m);
  }
  p.seed = get_integer(body, "seed");
  p.stop = parse_stop(body);
  if (const Json* ids = field(body, "stop_token_ids")) {
    p.stop_token_ids = token_list(*ids, "stop_token_ids");
  }
  p.ignore_eos = get_bool(body, "ignore_eos").value_or(false);
  if (const auto m = get_int32(body, "min_tokens")) {
    if (*m < 0) reject("min_tokens must be at least 0, got " + std::to_string(*m), "min_tokens");
    p.min_tokens = *m;
  }
  p.n = get_int32(body, "n").value_or(1);
  if (p.n != 1) reject("n must be 1: only one choice per request is supported", "n");
  p.priority = get_int32(body, "priority").value_or(0);
  p.stream = get_bool(body, "stream").value_or(false);
  parse_stream_options(body, p);
  p.return_token_ids = get_bool(body, "return_token_ids").value_or(false);
  p.skip_special_tokens = get_bool(body, "skip_special_tokens").value_or(true);
  p.include_stop_str_in_output = get_bool(body, "include_stop_str_in_output").value_or(false);
  p.user = get_string(body, "user").value_or("");
  return p;
}

void check_min_tokens(const GenerationParams& p) {
  if (p.max_tokens && p.min_tokens > *p.max_tokens) {
    reject("min_tokens must be less than or equal to max_tokens=" + std::to_string(*p.max_tokens) +
               ", got " + std::to_string(p.min_tokens),
           "min_tokens");
  }
}

// --- Prompts and messages -------------------------------------------------------

std::vector<PromptInput> parse_prompts(const Json& body) {
  static constexpr const char* kShape =
      "prompt must be a string, a list of strings, a list of token ids or a list of lists of "
      "token ids";
  const Json* v = field(body, "prompt");
  if (!v) reject("prompt is required", "prompt");
  std::vector<PromptInput> prompts;
  auto add_text = [&](const Json& s) {
    if (s.get_ref<const std::string&>().empty()) reject("prompt cannot be empty", "prompt");
    prompts.emplace_back(s.get<std::string>());
  };
  auto add_tokens = [&](const Json& ids) {
    if (ids.empty()) reject("prompt cannot be empty", "prompt");
    prompts.emplace_back(token_list(ids, "prompt"));
  };
  if (v->is_string()) {
    add_text(*v);
    return prompts;
  }
  if (!v->is_array()) reject(kShape, "prompt");
  if (v->empty()) reject("prompt cannot be empty", "prompt");
  const Json& first = v->front();
  if (first.is_number()) {
    add_tokens(*v);
    return prompts;
  }
  for (const Json& e : *v) {
    if (first.is_string() && e.is_string()) {
      add_text(e);
    } else if (first.is_array() && e.is_array()) {
      add_tokens(e);
    } else {
      reject(kShape, "prompt");
    }
  }
  return prompts;
}

std::string message_path(size_t i) { return "messages[" + std::to_string(i) + "]"; }

// The text of one message's content, as vLLM's "string" content format gives
// it to the chat template: text parts joined with newlines.
std::string content_text(const Json& content, const std::string& path) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) reject(path + " must be a string or a list of content parts", path);
  std::string text;
  for (size_t j = 0; j < content.size(); ++j) {
    const Json& part = content[j];
    const std::string part_path = path + "[" + std::to_string(j) + "]";
    if (!part.is_object()) reject(part_path + " must be an object", path);
    const Json* type = field(part, "type");
    const Json* part_text = field(part, "text");
    // vLLM also takes a part with no "type" that has a "text" string.
    if (type && !type->is_string()) reject(part_path + ".type must be a string", path);
    if (type && *type != "text") {
      reject(part_path + ": content part type '" + type->get<std::string>() +
                 "' is not supported (only text)",
             path);
    }
    if (!part_text || !part_text->is_string()) {
      reject(part_path + ".text must be a string", path);
    }
    if (j > 0) text += '\n';
    text += part_text->get_ref<const std::string&>();
  }
  return text;
}

Json normalize_messages(const Json& body) {
  const Json* v = field(body, "messages");
  if (!v) reject("messages is required", "messages");
  if (!v->is_array() || v->empty()) reject("messages must be a non-empty list", "messages");
  Json out = Json::array();
  for (size_t i = 0; i < v->size(); ++i) {
    const Json& m = (*v)[i];
    const std::string path = message_path(i);
    if (!m.is_object()) reject(path + " must be an object", "messages");
    const Json* role = field(m, "role");
    if (!role) reject(path + ".role is required", path + ".role");
    if (!role->is_string()) reject(path + ".role must be a string", path + ".role");
    Json n = m;
    const Json* content = field(m, "content");
    if (!content) {
      // An assistant turn that only made tool calls has no content.
      if (*role != "assistant") reject(path + ".content is required", path + ".content");
      n["content"] = "";
    } else {
      n["content"] = content_text(*content, path + ".content");
    }
    out.push_back(std::move(n));
  }
  return out;
}

Json chat_template_kwargs(const Json& body) {
  const Json* v = field(body, "chat_template_kwargs");
  if (!v) return Json::object();
  if (!v->is_object()) reject("chat_template_kwargs must be an object", "chat_template_kwargs");
  return *v;
}

// add_generation_prompt and continue_final_message: both true makes no sense
// (the final message would be closed and a new one opened). vLLM rejects the
// pair only when both are sent; a client sending just continue_final_message
// means add_generation_prompt=false, so that is the default then.
std::pair<bool, bool> generation_prompt_flags(const Json& body) {
  const bool cont = get_bool(body, "continue_final_message").value_or(false);
  const auto add = get_bool(body, "add_generation_prompt");
  if (cont && add.value_or(false)) {
    reject("cannot set both continue_final_message and add_generation_prompt to true",
           "continue_final_message");
  }
  return {add.value_or(!cont), cont};
}

template <class T, class F>
ApiResult<T> guarded(std::string_view body, F&& parse) {
  try {
    const Json j = parse_body(body);
    return parse(j);
  } catch (Rejected& r) {
    return std::move(r.error);
  }
}

}  // namespace

// --- Errors ------------------------------------------------------------------

ApiError bad_request(std::string message, std::optional<std::string> param) {
  return {400, std::move(message), "BadRequestError", std::move(param)};
}

ApiError not_found(std::string message, std::optional<std::string> param) {
  return {404, std::move(message), "NotFoundError", std::move(param)};
}

ApiError model_not_found(std::string_view model) {
  return not_found("The model `" + std::string(model) + "` does not exist.", "model");
}

ApiError unauthorized(std::string message) {
  return {401, std::move(message), "AuthenticationError", std::nullopt};
}

ApiError internal_error(std::string message) {
  return {500, std::move(message), "InternalServerError", std::nullopt};
}

ApiError unavailable(std::string message) {
  return {503, std::move(message), "ServiceUnavailableError", std::nullopt};
}

ApiError payload_too_large(std::string message) {
  return {413, std::move(message), "BadRequestError", std::nullopt};
}

std::string error_json(const ApiError& e) {
  Json err = Json::object();
  err["message"] = e.message;
  err["type"] = e.type;
  err["param"] = e.param ? Json(*e.param) : Json(nullptr);
  err["code"] = e.status;
  Json j = Json::object();
  j["error"] = std::move(err);
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

SamplingParams GenerationParams::to_sampling_params() const {
  SamplingParams s;
  s.temperature = temperature;
  s.top_p = top_p;
  s.top_k = top_k;
  s.min_p = min_p;
  s.seed = seed;
  s.max_tokens = max_tokens;
  s.min_tokens = min_tokens;
  s.stop_token_ids = stop_token_ids;
  s.ignore_eos = ignore_eos;
  s.n = n;
  return s;
}

// --- Requests ------------------------------------------------------------------

ApiResult<CompletionRequest> parse_completion_request(std::string_view body) {
  return guarded<CompletionRequest>(body, [](const Json& j) {
    CompletionRequest r;
    r.model = model_of(j);
    r.prompts = parse_prompts(j);
    r.params = parse_generation_params(j);
    // Absent is OpenAI's default of 16; an explicit null is "no limit" (vLLM).
    r.params.max_tokens =
        j.contains("max_tokens") ? get_max_tokens(j, "max_tokens") : std::optional<int32_t>(16);
    check_min_tokens(r.params);
    if (const Json* lp = field(j, "logprobs")) {
      json_integer(*lp, "logprobs", 0, std::numeric_limits<int32_t>::max());
      unsupported("logprobs", "logprobs");
    }
    reject_if_true(j, "echo", "echo");
    if (!get_string(j, "suffix").value_or("").empty()) unsupported("suffix", "suffix");
    reject_if_set(j, "prompt_embeds", "prompt_embeds");
    r.add_special_tokens = get_bool(j, "add_special_tokens").value_or(true);
    return r;
  });
}

ApiResult<ChatCompletionRequest> parse_chat_request(std::string_view body) {
  return guarded<ChatCompletionRequest>(body, [](const Json& j) {
    ChatCompletionRequest r;
    r.model = model_of(j);
    r.messages = normalize_messages(j);
    r.params = parse_generation_params(j);
    const auto max_tokens = get_max_tokens(j, "max_tokens");
    const auto max_completion_tokens = get_max_tokens(j, "max_completion_tokens");
    r.params.max_tokens = max_completion_tokens ? max_completion_tokens : max_tokens;
    check_min_tokens(r.params);

    if (get_bool(j, "logprobs").value_or(false)) unsupported("logprobs", "logprobs");
    if (const auto top = get_int32(j, "top_logprobs")) {
      if (*top < 0) reject("top_logprobs must be non-negative", "top_logprobs");
      if (*top > 0) unsupported("top_logprobs", "top_logprobs");
    }
    reject_if_true(j, "echo", "echo");

    // Tools may be sent as an empty list (some clients always send the key).
    const Json* tools = field(j, "tools");
    if (tools && !tools->is_array()) reject("tools must be a list", "tools");
    if (tools && !tools->empty()) unsupported("tools", "tool calling");
    if (const Json* tc = field(j, "tool_choice")) {
      // "required" with an empty tools list means "none", as vLLM and OpenAI.
      const bool ok = *tc == "none" || *tc == "auto" || (*tc == "required" && tools != nullptr);
      if (!ok) unsupported("tool_choice", "tool calling");
    }
    reject_if_nonempty(j, "functions", "function calling", Json::value_t::array);
    if (const Json* fc = field(j, "function_call"); fc && *fc != "none" && *fc != "auto") {
      unsupported("function_call", "function calling");
    }
    // vLLM rejects request-supplied templates unless started with
    // --trust-request-chat-template; this server has no such switch.
    reject_if_set(j, "chat_template", "a chat template in the request");

    std::tie(r.add_generation_prompt, r.continue_final_message) = generation_prompt_flags(j);
    r.chat_template_kwargs = chat_template_kwargs(j);
    r.add_special_tokens = get_bool(j, "add_special_tokens").value_or(false);
    return r;
  });
}

ApiResult<TokenizeRequest> parse_tokenize_request(std::string_view body) {
  return guarded<TokenizeRequest>(body, [](const Json& j) {
    TokenizeRequest r;
    r.model = model_of(j);
    const bool has_prompt = has_field(j, "prompt");
    const bool has_messages = has_field(j, "messages");
    if (has_prompt && has_messages) {
      reject("give either prompt or messages, not both", "messages");
    }
    if (!has_prompt && !has_messages) reject("prompt or messages is required", "prompt");
    if (has_prompt) {
      r.prompt = get_string(j, "prompt");
      r.add_special_tokens = get_bool(j, "add_special_tokens").value_or(true);
    } else {
      r.messages = normalize_messages(j);
      r.add_special_tokens = get_bool(j, "add_special_tokens").value_or(false);
      std::tie(r.add_generation_prompt, r.continue_final_message) = generation_prompt_flags(j);
      r.chat_template_kwargs = chat_template_kwargs(j);
      reject_if_set(j, "chat_template", "a chat template in the request");
    }
    reject_if_true(j, "return_token_strs", "return_token_strs");
    return r;
  });
}

ApiResult<DetokenizeRequest> parse_detokenize_request(std::string_view body) {
  return guarded<DetokenizeRequest>(body, [](const Json& j) {
    DetokenizeRequest r;
    r.model = model_of(j);
    const Json* tokens = field(j, "tokens");
    if (!tokens) reject("tokens is required", "tokens");
    r.tokens = token_list(*tokens, "tokens");
    return r;
  });
}

}  // namespace waypoint
