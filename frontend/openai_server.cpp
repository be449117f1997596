#include "frontend/openai_server.hpp"

#include <chrono>
#include <cstdio>
#include <random>

#include <nlohmann/json.hpp>

#include "frontend/openai_response.hpp"
#include "frontend/request_stream.hpp"
#include "frontend/response_writer.hpp"
#include "telemetry/trace_attributes.hpp"

namespace waypoint {

namespace {

constexpr std::string_view kJson = "application/json";

double epoch_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

OpenAiServer::OpenAiServer(OpenAiServerConfig config, const Tokenizer& tokenizer,
                           const TokenizerConfig& tokenizer_config, EngineClient& engine,
                           JourneyRecorder& journey, const Logger& log)
    : config_(std::move(config)),
      tokenizer_(tokenizer),
      tokenizer_config_(tokenizer_config),
      engine_(engine),
      journey_(journey),
      log_(log),
      created_(static_cast<int64_t>(epoch_seconds())),
      id_salt_(std::random_device{}() ^ (uint64_t{std::random_device{}()} << 32)),
      metrics_(config_.served_model_name, 0, config_.client_index, config_.max_model_len),
      metrics_peers_(config_.metrics_endpoints, config_.client_index,
                     [this] { return refresh_metrics(); }, log_) {
  engine_.set_request_metrics(metrics_.requests());
}

void OpenAiServer::install(HttpServer& http) {
  auto bind = [this](void (OpenAiServer::*method)(const HttpRequest&, HttpResponder&)) {
    return [this, method](const HttpRequest& request, HttpResponder& responder) {
      (this->*method)(request, responder);
    };
  };
  http.route("GET", "/health", bind(&OpenAiServer::health));
  http.route("GET", "/version", bind(&OpenAiServer::version));
  http.route("GET", "/metrics", bind(&OpenAiServer::metrics));
  http.route("GET", "/v1/models", bind(&OpenAiServer::models));
  http.route("POST", "/tokenize", bind(&OpenAiServer::tokenize));
  http.route("POST", "/detokenize", bind(&OpenAiServer::detokenize));
  http.route("POST", "/v1/completions", bind(&OpenAiServer::completions));
  http.route("POST", "/v1/chat/completions", bind(&OpenAiServer::chat));
}

void OpenAiServer::send_error(HttpResponder& responder, const ApiError& error) const {
  responder.send(error.status, kJson, error_json(error));
}

std::optional<ApiError> OpenAiServer::admit(const HttpRequest& request, bool needs_auth) const {
  if (needs_auth && !config_.api_key.empty()) {
    const auto auth = request.header("authorization");
    if (!auth || *auth != "Bearer " + config_.api_key) {
      return unauthorized("invalid or missing API key");
    }
  }
  if (engine_.dead()) return unavailable("the engine is not running");
  if (draining_.load()) return unavailable("the server is shutting down");
  return std::nullopt;
}

std::optional<ApiError> OpenAiServer::check_model(const std::string& model) const {
  if (model.empty() || model == config_.served_model_name) return std::nullopt;
  return model_not_found(model);
}

std::string OpenAiServer::next_id(std::string_view prefix) {
  const uint64_t n = id_counter_.fetch_add(1);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016llx%08llx", static_cast<unsigned long long>(id_salt_),
                static_cast<unsigned long long>(n & 0xffffffffULL));
  return std::string(prefix) + buf;
}

void OpenAiServer::health(const HttpRequest&, HttpResponder& responder) {
  if (engine_.dead()) {
    send_error(responder, unavailable("the engine is not running"));
    return;
  }
  responder.send(200, "text/plain", "");
}

void OpenAiServer::version(const HttpRequest&, HttpResponder& responder) {
  responder.send(200, kJson, nlohmann::json{{"version", WAYPOINT_VERSION_STRING}}.dump());
}

FrontendMetricsSnapshot OpenAiServer::refresh_metrics() {
  if (auto stats = engine_.last_stats()) metrics_.observe(*stats);
  metrics_.observe_frontend(journey_.live_states(), journey_.dropped(), journey_.spans_dropped());
  return metrics_.snapshot();
}

void OpenAiServer::metrics(const HttpRequest&, HttpResponder& responder) {
  refresh_metrics();
  responder.send(200, "text/plain; version=0.0.4; charset=utf-8",
                 metrics_.render(metrics_peers_.collect()));
}

void OpenAiServer::models(const HttpRequest& request, HttpResponder& responder) {
  if (auto e = admit(request, true); e && e->status == 401) return send_error(responder, *e);
  responder.send(200, kJson,
                 models_json(config_.served_model_name, created_, config_.max_model_len));
}

Result<std::string> OpenAiServer::render_chat(const nlohmann::ordered_json& messages,
                                              bool add_generation_prompt,
                                              bool continue_final_message,
                                              const nlohmann::ordered_json& kwargs) const {
  if (!tokenizer_config_.chat_template) {
    return Error{"this model has no chat template (tokenizer_config.json chat_template)"};
  }
  nlohmann::ordered_json context = kwargs.is_object() ? kwargs : nlohmann::ordered_json::object();
  context["messages"] = messages;
  context["add_generation_prompt"] = add_generation_prompt && !continue_final_message;
  context["bos_token"] = tokenizer_config_.bos_token;
  context["eos_token"] = tokenizer_config_.eos_token;
  auto text = tokenizer_config_.chat_template->render(context);
  if (!text) return text.error();
  if (continue_final_message && !messages.empty()) {
    // Cut the template's end-of-turn after the last message, so the model
    // continues it (vLLM's continue_final_message).
    const auto& last = messages.back()["content"];
    if (last.is_string()) {
      const std::string content = last.get<std::string>();
      const size_t at = text->rfind(content);
      if (!content.empty() && at != std::string::npos) text->resize(at + content.size());
    }
  }
  return text;
}

void OpenAiServer::tokenize(const HttpRequest& request, HttpResponder& responder) {
  if (auto e = admit(request, false); e && e->status == 401) return send_error(responder, *e);
  auto parsed = parse_tokenize_request(request.body);
  if (!parsed) return send_error(responder, parsed.error());
  if (auto e = check_model(parsed->model)) return send_error(responder, *e);
  std::vector<TokenId> ids;
  if (parsed->messages) {
    auto text = render_chat(*parsed->messages, parsed->add_generation_prompt,
                            parsed->continue_final_message, parsed->chat_template_kwargs);
    if (!text) return send_error(responder, bad_request(text.error().message, "messages"));
    ids = tokenizer_.encode(*text, parsed->add_special_tokens);
  } else {
    ids = tokenizer_.encode(parsed->prompt.value_or(""), parsed->add_special_tokens);
  }
  responder.send(200, kJson, tokenize_json(ids, config_.max_model_len));
}

void OpenAiServer::detokenize(const HttpRequest& request, HttpResponder& responder) {
  if (auto e = admit(request, false); e && e->status == 401) return send_error(responder, *e);
  auto parsed = parse_detokenize_request(request.body);
  if (!parsed) return send_error(responder, parsed.error());
  if (auto e = check_model(parsed->model)) return send_error(responder, *e);
  for (TokenId id : parsed->tokens) {
    if (id < 0 || id >= tokenizer_.vocab_size()) {
      return send_error(
          responder,
          bad_request("token id " + std::to_string(id) + " is outside the vocabulary", "tokens"));
    }
  }
  responder.send(200, kJson, detokenize_json(tokenizer_.decode(parsed->tokens, true)));
}

void OpenAiServer::completions(const HttpRequest& request, HttpResponder& responder) {
  if (auto e = admit(request, true)) return send_error(responder, *e);
  auto parsed = parse_completion_request(request.body);
  if (!parsed) return send_error(responder, parsed.error());
  if (auto e = check_model(parsed->model)) return send_error(responder, *e);
  std::vector<Prompt> prompts;
  for (const PromptInput& input : parsed->prompts) {
    if (const auto* text = std::get_if<std::string>(&input)) {
      prompts.push_back({tokenizer_.encode(*text, parsed->add_special_tokens)});
    } else {
      const auto& ids = std::get<std::vector<int32_t>>(input);
      for (int32_t id : ids) {
        if (id < 0 || id >= tokenizer_.vocab_size()) {
          return send_error(responder, bad_request("token id " + std::to_string(id) +
                                                       " is outside the vocabulary",
                                                   "prompt"));
        }
      }
      prompts.push_back({ids});
    }
  }
  generate(Api::kCompletions, parsed->model.empty() ? config_.served_model_name : parsed->model,
           std::move(prompts), parsed->params, request.received_ns, request.headers, responder);
}

void OpenAiServer::chat(const HttpRequest& request, HttpResponder& responder) {
  if (auto e = admit(request, true)) return send_error(responder, *e);
  auto parsed = parse_chat_request(request.body);
  if (!parsed) return send_error(responder, parsed.error());
  if (auto e = check_model(parsed->model)) return send_error(responder, *e);
  auto text = render_chat(parsed->messages, parsed->add_generation_prompt,
                          parsed->continue_final_message, parsed->chat_template_kwargs);
  if (!text) return send_error(responder, bad_request(text.error().message, "messages"));
  std::vector<Prompt> prompts;
  // By default the template writes the special tokens (BOS) itself.
  prompts.push_back({tokenizer_.encode(*text, parsed->add_special_tokens)});
  generate(Api::kChat, parsed->model.empty() ? config_.served_model_name : parsed->model,
           std::move(prompts), parsed->params, request.received_ns, request.headers, responder);
}

std::optional<ApiError> OpenAiServer::check_prompts(Api api, const std::vector<Prompt>& prompts,
                                                    const GenerationParams& params) const {
  if (params.priority != 0 && !config_.priority_scheduling) {
    return bad_request("priority needs --scheduling-policy priority", "priority");
  }
  const int32_t max_len = config_.max_model_len;
  for (const Prompt& p : prompts) {
    const auto n = static_cast<int32_t>(p.token_ids.size());
    if (n == 0) return bad_request("the prompt is empty", "prompt");
    if (n >= max_len) {
      return bad_request("This model's maximum context length is " + std::to_string(max_len) +
                             " tokens. However, your request has " + std::to_string(n) +
                             " input tokens. Please reduce the length of the input.",
                         api == Api::kChat ? "messages" : "prompt");
    }
    if (params.max_tokens && n + *params.max_tokens > max_len) {
      return bad_request("This model's maximum context length is " + std::to_string(max_len) +
                             " tokens. However, you requested " +
                             std::to_string(n + *params.max_tokens) + " tokens (" +
                             std::to_string(n) + " in the input, " +
                             std::to_string(*params.max_tokens) +
                             " in the completion). Please reduce the length of the input or "
                             "completion.",
                         "max_tokens");
    }
  }
  return std::nullopt;
}

std::optional<ApiError> OpenAiServer::send_to_engine(OutputProcessor& processor,
                                                     std::vector<Prompt> prompts,
                                                     const GenerationParams& params,
                                                     const Admission& admission) {
  // Sampled once per HTTP request; the core obeys the decision, so a trace
  // has both halves or neither. Its spans continue the client's W3C trace
  // context, or start a trace.
  const bool traced = journey_.sample();
  const RequestSpanStart span_start = journey_.span_start(
      traced, admission.headers, {admission.model, params.temperature, params.top_p, params.n});
  for (size_t i = 0; i < prompts.size(); ++i) {
    RequestState& state =
        processor.add(tokenizer_, params, static_cast<int32_t>(i),
                      prompts.size() == 1 ? admission.id : admission.id + "-" + std::to_string(i),
                      std::move(prompts[i].token_ids));
    if (traced) {
      state.journey() = ApiJourney(journey_, state.request_id(), admission.received_ns, span_start);
    }
    EngineCoreRequest request;
    request.request_id = state.request_id();
    request.prompt_token_ids = state.prompt_token_ids();
    request.sampling_params = params.to_sampling_params();
    request.sampling_params.max_tokens = params.max_tokens.value_or(
        config_.max_model_len - static_cast<int32_t>(state.prompt_token_ids().size()));
    request.arrival_time = admission.arrival;
    request.client_index = config_.client_index;
    request.priority = params.priority;
    if (journey_.enabled()) {
      request.trace_headers.emplace();
      (*request.trace_headers)[std::string(kJourneySampledHeader)] = traced ? "1" : "0";
      state.journey().add_trace_headers(*request.trace_headers);
    }
    state.journey().handoff(static_cast<int32_t>(state.prompt_token_ids().size()),
                            *request.sampling_params.max_tokens, params.stream);
    if (auto ok = engine_.add_request(request, state.stream()); !ok) {
      state.mark_unsent();
      processor.abort_unfinished("engine unavailable: " + ok.error().message, FinishReason::ERROR);
      return unavailable(ok.error().message);
    }
  }
  return std::nullopt;
}

OpenAiServer::Streamed OpenAiServer::stream_tokens(OutputProcessor& processor,
                                                   ResponseWriter& writer,
                                                   HttpResponder& responder) {
  Waker& waker = processor.waker();
  while (processor.num_unfinished() > 0) {
    if (responder.wait(waker.fd(), std::chrono::milliseconds(1000)) == WaitResult::kPeerClosed) {
      return {Streamed::kClientGone, {}};
    }
    waker.drain();
    std::vector<RequestState*> stopped;
    for (const auto& state : processor.states()) {
      if (state->finished()) continue;
      if (auto error = state->absorb()) {
        processor.abort_stopped(stopped);
        return {Streamed::kEngineFailed, *error};
      }
      if (auto first = state->first_output_ns()) state->journey().first_response(*first);
      if (state->stopped_here()) stopped.push_back(state.get());
      if (!writer.write_update(*state)) return {Streamed::kClientGone, {}};
    }
    processor.abort_stopped(stopped);
  }
  return {Streamed::kDone, {}};
}

void OpenAiServer::generate(Api api, const std::string& model, std::vector<Prompt> prompts,
                            const GenerationParams& params, int64_t received_ns,
                            const HttpHeaders& headers, HttpResponder& responder) {
  constexpr std::string_view kClientGone = "client disconnected";
  // Admit.
  const double arrival = epoch_seconds();
  if (auto e = check_prompts(api, prompts, params)) return send_error(responder, *e);
  const bool chat = api == Api::kChat;
  ResponseWriter writer(chat,
                        {next_id(chat ? "chatcmpl-" : "cmpl-"), static_cast<int64_t>(arrival),
                         model, params.return_token_ids},
                        params, responder);
  // Send.
  OutputProcessor processor(engine_);
  const Admission admission{writer.meta().id, model, arrival, received_ns, headers};
  if (auto e = send_to_engine(processor, std::move(prompts), params, admission)) {
    return send_error(responder, *e);
  }
  // Stream the chunks.
  if (!writer.begin(processor)) return processor.abort_unfinished(kClientGone);
  const Streamed streamed = stream_tokens(processor, writer, responder);
  if (streamed.outcome == Streamed::kClientGone) return processor.abort_unfinished(kClientGone);
  if (streamed.outcome == Streamed::kEngineFailed) {
    processor.abort_unfinished("engine failed: " + streamed.error, FinishReason::ERROR);
    return writer.fail(internal_error("the request failed: " + streamed.error));
  }
  for (const auto& state : processor.states()) {
    if (state->finish_reason() == "error") {
      for (const auto& other : processor.states()) {
        other->journey().aborted("the engine could not run it");
      }
      return writer.fail(internal_error("the engine could not run request " + state->request_id()));
    }
  }
  writer.finish(processor);
  processor.departed();  // once the whole response is out
}

}  // namespace waypoint
