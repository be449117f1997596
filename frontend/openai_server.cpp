#include "frontend/openai_server.hpp"

#include <chrono>
#include <cstdio>
#include <random>

#include <nlohmann/json.hpp>

#include "frontend/openai_response.hpp"
#include "frontend/request_stream.hpp"
#include "frontend/stop_string_matcher.hpp"
#include "telemetry/trace_attributes.hpp"
#include "tokenizer/incremental_detokenizer.hpp"

namespace waypoint {

namespace {

constexpr std::string_view kJson = "application/json";

double epoch_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// One prompt's journey back from the engine: its tokens, their text, and how
// much of that text the client has been sent.
struct Choice {
  int32_t index = 0;
  std::string request_id;
  std::vector<TokenId> prompt_token_ids;
  std::shared_ptr<RequestStream> stream;
  IncrementalDetokenizer detokenizer;
  StopStringMatcher matcher;
  int32_t min_tokens = 0;
  std::string text;
  size_t sent = 0;
  std::vector<TokenId> token_ids;
  size_t token_ids_sent = 0;
  bool finished = false;
  bool stopped_here = false;  // a stop string ended it: the engine must be told
  std::string finish_reason;
  std::optional<std::variant<std::string, int32_t>> stop_reason;
  RequestStream::Update update;
  ApiJourney journey;  // untraced unless sampled

  Choice(const Tokenizer& tokenizer, const GenerationParams& params)
      : detokenizer(tokenizer, params.skip_special_tokens),
        matcher(params.stop, params.include_stop_str_in_output),
        min_tokens(params.min_tokens) {}

  // Applies what the engine sent. Returns an error message if the engine is gone.
  std::optional<std::string> absorb() {
    stream->take(update);
    if (update.error) return update.error;
    for (TokenId id : update.token_ids) {
      if (finished) break;
      token_ids.push_back(id);
      const std::string piece = detokenizer.push(id);
      append(piece, static_cast<int32_t>(token_ids.size()) > min_tokens);
    }
    if (!finished && update.finish_reason) {
      append(detokenizer.finish(), true);
      if (!finished) {
        finished = true;
        finish_reason = std::string(to_string(*update.finish_reason));
        if (*update.finish_reason == FinishReason::STOP && update.stop_reason) {
          stop_reason = *update.stop_reason;
        }
      }
    }
    return std::nullopt;
  }

  void append(const std::string& piece, bool detect) {
    if (piece.empty()) return;
    auto match = matcher.append(piece, detect);
    text += piece;
    if (match) {
      text.resize(match->truncate_len);
      finished = true;
      stopped_here = true;
      finish_reason = "stop";
      stop_reason = match->stop;
    }
  }

  // The text the client may see now that it has not seen yet.
  std::string take_delta() {
    const size_t releasable = std::min(matcher.releasable_len(finished), text.size());
    if (releasable <= sent) return {};
    std::string delta = text.substr(sent, releasable - sent);
    sent = releasable;
    return delta;
  }
};

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

void OpenAiServer::generate(Api api, const std::string& model, std::vector<Prompt> prompts,
                            const GenerationParams& params, int64_t received_ns,
                            const HttpHeaders& headers, HttpResponder& responder) {
  const double arrival = epoch_seconds();
  if (params.priority != 0 && !config_.priority_scheduling) {
    return send_error(responder,
                      bad_request("priority needs --scheduling-policy priority", "priority"));
  }
  const int32_t max_len = config_.max_model_len;
  for (const Prompt& p : prompts) {
    const auto n = static_cast<int32_t>(p.token_ids.size());
    if (n == 0) return send_error(responder, bad_request("the prompt is empty", "prompt"));
    if (n >= max_len) {
      return send_error(
          responder,
          bad_request("This model's maximum context length is " + std::to_string(max_len) +
                          " tokens. However, your request has " + std::to_string(n) +
                          " input tokens. Please reduce the length of the input.",
                      api == Api::kChat ? "messages" : "prompt"));
    }
    if (params.max_tokens && n + *params.max_tokens > max_len) {
      return send_error(
          responder,
          bad_request("This model's maximum context length is " + std::to_string(max_len) +
                          " tokens. However, you requested " +
                          std::to_string(n + *params.max_tokens) + " tokens (" + std::to_string(n) +
                          " in the input, " + std::to_string(*params.max_tokens) +
                          " in the completion). Please reduce the length of the input or "
                          "completion.",
                      "max_tokens"));
    }
  }

  const ResponseMeta meta{next_id(api == Api::kChat ? "chatcmpl-" : "cmpl-"),
                          static_cast<int64_t>(arrival), model, params.return_token_ids};
  auto waker = std::make_shared<Waker>();
  std::vector<std::unique_ptr<Choice>> choices;
  std::vector<std::string> live_ids;
  // Ends the request early: the engine forgets what still runs, and every
  // traced journey ends ABORTED with the reason.
  // `why` is what the metrics count it as: the client gone (ABORT) or the
  // engine failing (ERROR); a choice a stop string ended stays a STOP.
  auto abort_unfinished = [&](std::string_view reason, FinishReason why = FinishReason::ABORT) {
    std::vector<EngineClient::Ending> ids;
    for (const auto& c : choices) {
      if (!c->finished || c->stopped_here) {
        ids.push_back({c->request_id, c->stream, c->stopped_here ? FinishReason::STOP : why,
                       c->token_ids.size()});
      }
      c->journey.aborted(reason);
    }
    engine_.abort(ids);
  };
  constexpr std::string_view kClientGone = "client disconnected";
  // Sampled once per HTTP request; the core obeys the decision, so a trace
  // has both halves or neither.
  const bool traced = journey_.sample();
  // Its spans continue the client's W3C trace context, or start a trace.
  const RequestSpanStart span_start =
      journey_.span_start(traced, headers, {model, params.temperature, params.top_p, params.n});

  for (size_t i = 0; i < prompts.size(); ++i) {
    auto choice = std::make_unique<Choice>(tokenizer_, params);
    choice->index = static_cast<int32_t>(i);
    choice->request_id = prompts.size() == 1 ? meta.id : meta.id + "-" + std::to_string(i);
    choice->prompt_token_ids = std::move(prompts[i].token_ids);
    choice->stream = std::make_shared<RequestStream>(waker);

    if (traced) {
      choice->journey = ApiJourney(journey_, choice->request_id, received_ns, span_start);
    }

    EngineCoreRequest request;
    request.request_id = choice->request_id;
    request.prompt_token_ids = choice->prompt_token_ids;
    request.sampling_params = params.to_sampling_params();
    request.sampling_params.max_tokens =
        params.max_tokens.value_or(max_len - static_cast<int32_t>(choice->prompt_token_ids.size()));
    request.arrival_time = arrival;
    request.client_index = config_.client_index;
    request.priority = params.priority;
    if (journey_.enabled()) {
      request.trace_headers.emplace();
      (*request.trace_headers)[std::string(kJourneySampledHeader)] = traced ? "1" : "0";
      choice->journey.add_trace_headers(*request.trace_headers);
    }
    choice->journey.handoff(static_cast<int32_t>(choice->prompt_token_ids.size()),
                            *request.sampling_params.max_tokens, params.stream);
    if (auto ok = engine_.add_request(request, choice->stream); !ok) {
      choices.push_back(std::move(choice));
      choices.back()->finished = true;  // never reached the engine
      abort_unfinished("engine unavailable: " + ok.error().message, FinishReason::ERROR);
      return send_error(responder, unavailable(ok.error().message));
    }
    choices.push_back(std::move(choice));
  }

  const bool chat = api == Api::kChat;
  auto chunk_json = [&](const ChunkDelta& d) {
    return chat ? chat_chunk_json(meta, d, params.include_usage)
                : completion_chunk_json(meta, d, params.include_usage);
  };
  if (params.stream) {
    responder.start_stream(200, "text/event-stream");
    if (chat) {
      for (const auto& c : choices) {
        ChunkDelta d;
        d.index = c->index;
        d.first = true;
        if (params.return_token_ids) d.prompt_token_ids = c->prompt_token_ids;
        if (!responder.write(sse_data(chunk_json(d)))) {
          abort_unfinished(kClientGone);
          return;
        }
      }
    }
  }

  std::optional<std::string> engine_error;
  size_t unfinished = choices.size();
  while (unfinished > 0) {
    const WaitResult woke = responder.wait(waker->fd(), std::chrono::milliseconds(1000));
    if (woke == WaitResult::kPeerClosed) {
      abort_unfinished(kClientGone);
      return;
    }
    waker->drain();
    std::vector<EngineClient::Ending> stopped;
    for (auto& c : choices) {
      if (c->finished) continue;
      if (auto error = c->absorb()) {
        engine_error = error;
        break;
      }
      if (c->update.first_output_ns) c->journey.first_response(*c->update.first_output_ns);
      if (c->stopped_here) {
        stopped.push_back({c->request_id, c->stream, FinishReason::STOP, c->token_ids.size()});
      }
      if (params.stream) {
        ChunkDelta d;
        d.index = c->index;
        d.text = c->take_delta();
        if (c->finished) {
          d.finish_reason = c->finish_reason;
          d.stop_reason = c->stop_reason;
        }
        if (params.return_token_ids) {
          d.token_ids.assign(c->token_ids.begin() + static_cast<ptrdiff_t>(c->token_ids_sent),
                             c->token_ids.end());
          c->token_ids_sent = c->token_ids.size();
          if (!chat && c->token_ids_sent == d.token_ids.size() && !d.token_ids.empty()) {
            d.prompt_token_ids = c->prompt_token_ids;
          }
        }
        const bool worth_sending = !d.text.empty() || d.finish_reason || !d.token_ids.empty();
        if (worth_sending && !responder.write(sse_data(chunk_json(d)))) {
          abort_unfinished(kClientGone);
          return;
        }
      }
      if (c->finished) --unfinished;
    }
    engine_.abort(stopped);
    if (engine_error) break;
  }

  // After a stream has started, an error is its last event, as vLLM does.
  auto fail = [&](const ApiError& e) {
    if (params.stream) {
      responder.write(sse_data(error_json(e)));
      responder.write(kSseDone);
    } else {
      send_error(responder, e);
    }
  };
  if (engine_error) {
    abort_unfinished("engine failed: " + *engine_error, FinishReason::ERROR);
    return fail(internal_error("the request failed: " + *engine_error));
  }
  for (const auto& c : choices) {
    if (c->finish_reason == "error") {
      for (const auto& other : choices) other->journey.aborted("the engine could not run it");
      return fail(internal_error("the engine could not run request " + c->request_id));
    }
  }
  // DEPARTED once the whole response is out.
  auto departed = [&] {
    for (const auto& c : choices) {
      c->journey.departed(static_cast<int32_t>(c->token_ids.size()), c->finish_reason);
    }
  };

  Usage usage;
  for (const auto& c : choices) {
    usage.prompt_tokens += static_cast<int32_t>(c->prompt_token_ids.size());
    usage.completion_tokens += static_cast<int32_t>(c->token_ids.size());
  }
  if (params.stream) {
    if (params.include_usage) {
      responder.write(sse_data(chat ? chat_usage_chunk_json(meta, usage)
                                    : completion_usage_chunk_json(meta, usage)));
    }
    responder.write(kSseDone);
    departed();
    return;
  }
  std::vector<ChoiceResult> results;
  for (const auto& c : choices) {
    ChoiceResult r;
    r.index = c->index;
    r.text = c->text;
    r.finish_reason = c->finish_reason;
    r.stop_reason = c->stop_reason;
    if (params.return_token_ids) {
      r.token_ids = c->token_ids;
      r.prompt_token_ids = c->prompt_token_ids;
    }
    results.push_back(std::move(r));
  }
  responder.send(200, kJson,
                 chat ? chat_response_json(meta, results, usage, choices.front()->prompt_token_ids)
                      : completion_response_json(meta, results, usage));
  departed();
}

}  // namespace waypoint
