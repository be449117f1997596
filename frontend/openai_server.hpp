#pragma once
// The OpenAI-compatible API on top of the engine: an HTTP request becomes one
// EngineCoreRequest per prompt, the engine's token ids come back through the
// engine client, and each is detokenized, checked against stop strings and
// written out as JSON or as SSE chunks.
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "base/log.hpp"
#include "frontend/engine_client.hpp"
#include "frontend/http_server.hpp"
#include "frontend/journey_recorder.hpp"
#include "frontend/metrics_peers.hpp"
#include "frontend/openai_protocol.hpp"
#include "frontend/output_processor.hpp"
#include "frontend/response_writer.hpp"
#include "frontend/server_metrics.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tokenizer/tokenizer_config.hpp"

namespace waypoint {

struct OpenAiServerConfig {
  std::string served_model_name;
  int32_t max_model_len = 2048;
  int32_t client_index = 0;
  std::string api_key;               // non-empty: /v1/* needs "Authorization: Bearer KEY"
  bool priority_scheduling = false;  // else a non-zero priority is refused, as vLLM does
  // Every frontend's metrics endpoint, by client index: a scrape of this one
  // covers them all. Empty: a lone frontend.
  std::vector<std::string> metrics_endpoints;
};

class OpenAiServer {
 public:
  OpenAiServer(OpenAiServerConfig config, const Tokenizer& tokenizer,
               const TokenizerConfig& tokenizer_config, EngineClient& engine,
               JourneyRecorder& journey, const Logger& log);

  void install(HttpServer& http);
  // New requests get 503 from now on; those in flight go on.
  void start_draining() { draining_.store(true); }

 private:
  enum class Api { kCompletions, kChat };
  struct Prompt {
    std::vector<TokenId> token_ids;
  };

  void health(const HttpRequest& request, HttpResponder& responder);
  void models(const HttpRequest& request, HttpResponder& responder);
  void version(const HttpRequest& request, HttpResponder& responder);
  void metrics(const HttpRequest& request, HttpResponder& responder);
  void tokenize(const HttpRequest& request, HttpResponder& responder);
  void detokenize(const HttpRequest& request, HttpResponder& responder);
  void completions(const HttpRequest& request, HttpResponder& responder);
  void chat(const HttpRequest& request, HttpResponder& responder);

  // The shared path of both generation endpoints, from token ids onwards:
  // admit, send to the engine, stream the chunks. `received_ns` is when the
  // HTTP request was read: the journey's ARRIVED. `headers` may carry the
  // client's W3C trace context.
  void generate(Api api, const std::string& model, std::vector<Prompt> prompts,
                const GenerationParams& params, int64_t received_ns, const HttpHeaders& headers,
                HttpResponder& responder);
  // What a generation request is checked against before it goes out.
  std::optional<ApiError> check_prompts(Api api, const std::vector<Prompt>& prompts,
                                        const GenerationParams& params) const;
  // What one admitted HTTP request brings to each of its engine requests.
  struct Admission {
    std::string id;      // the response's id; engine requests are it, or it-N
    std::string model;   // as the client named it
    double arrival = 0;  // epoch seconds
    int64_t received_ns = 0;
    const HttpHeaders& headers;
  };
  // One EngineCoreRequest per prompt, each with its state in `processor`;
  // an error when the engine cannot take them.
  std::optional<ApiError> send_to_engine(OutputProcessor& processor, std::vector<Prompt> prompts,
                                         const GenerationParams& params,
                                         const Admission& admission);
  // Waits for the engine's tokens and writes each choice's news, until every
  // choice is finished, the client goes away or the engine fails.
  struct Streamed {
    enum Outcome { kDone, kClientGone, kEngineFailed } outcome;
    std::string error;  // kEngineFailed: why
  };
  Streamed stream_tokens(OutputProcessor& processor, ResponseWriter& writer,
                         HttpResponder& responder);

  // nullopt when the request may go on; else the error to answer with.
  std::optional<ApiError> admit(const HttpRequest& request, bool needs_auth) const;
  std::optional<ApiError> check_model(const std::string& model) const;
  Result<std::string> render_chat(const nlohmann::ordered_json& messages,
                                  bool add_generation_prompt, bool continue_final_message,
                                  const nlohmann::ordered_json& kwargs) const;
  std::string next_id(std::string_view prefix);
  void send_error(HttpResponder& responder, const ApiError& error) const;
  // This frontend's metrics brought up to date, for its own scrape or a peer's.
  FrontendMetricsSnapshot refresh_metrics();

  OpenAiServerConfig config_;
  const Tokenizer& tokenizer_;
  const TokenizerConfig& tokenizer_config_;
  EngineClient& engine_;
  JourneyRecorder& journey_;
  const Logger& log_;
  const int64_t created_;
  const uint64_t id_salt_;
  std::atomic<uint64_t> id_counter_{0};
  std::atomic<bool> draining_{false};
  ServerMetrics metrics_;
  MetricsPeers metrics_peers_;  // last: its thread reads the members above
};

}  // namespace waypoint
