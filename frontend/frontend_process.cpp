#include "frontend/frontend_process.hpp"

#include <chrono>
#include <filesystem>
#include <optional>

#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "base/json_config.hpp"
#include "base/log.hpp"
#include "frontend/engine_client.hpp"
#include "frontend/http_server.hpp"
#include "frontend/journey_recorder.hpp"
#include "frontend/openai_protocol.hpp"
#include "frontend/openai_server.hpp"
#include "frontend/request_span_recorder.hpp"
#include "proto/control_channel.hpp"
#include "telemetry/otlp_exporter.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tokenizer/tokenizer_config.hpp"

namespace waypoint {

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(FrontendProcessConfig, model_dir, served_model_name,
                                                host, port, client_index, max_model_len,
                                                request_endpoint, output_endpoint,
                                                max_request_bytes, api_key, priority_scheduling,
                                                drain_timeout_s, enable_journey_tracing,
                                                journey_tracing_sample_rate, seed, events_endpoint,
                                                otlp_traces_endpoint, metrics_endpoints)

std::string to_json_text(const FrontendProcessConfig& c) { return json_text(c); }

Result<FrontendProcessConfig> frontend_config_from_json(const std::string& text) {
  return from_json_text<FrontendProcessConfig>(text, "frontend config");
}

namespace {

// The HTTP server on the shared port, its own errors OpenAI-shaped.
HttpServerOptions http_options(const FrontendProcessConfig& config) {
  HttpServerOptions options;
  options.host = config.host;
  options.port = config.port;
  options.max_request_bytes = static_cast<size_t>(config.max_request_bytes);
  options.reuse_port = true;
  options.error_body = [](int status, std::string_view message) {
    ApiError e = status == 404   ? not_found(std::string(message))
                 : status == 413 ? payload_too_large(std::string(message))
                 : status == 503 ? unavailable(std::string(message))
                 : status >= 500 ? internal_error(std::string(message))
                                 : bad_request(std::string(message));
    e.status = status;
    return error_json(e);
  };
  return options;
}

// Serving: until the launcher says the engine died (fail what is in flight,
// answer 503), to drain, or to shut down.
void serve_until_told(control::Channel& control, HttpServer& http, OpenAiServer& api,
                      EngineClient& engine, JourneyRecorder& journey,
                      const FrontendProcessConfig& config, const Logger& log) {
  while (true) {
    auto message = control.receive(std::chrono::milliseconds(1000));
    if (!message) continue;
    if (message->kind == control::kEngineDead) {
      journey.engine_dead(message->payload);
      engine.mark_dead(message->payload);
    } else if (message->kind == control::kDrain) {
      api.start_draining();
      log.info("draining " + std::to_string(http.active_requests()) + " request(s)");
      // In-flight requests finish; any still running at the deadline see
      // their connection closed and abort in the engine.
      http.stop(std::chrono::seconds(config.drain_timeout_s));
      return;
    } else if (message->kind == control::kShutdown) {
      http.stop(std::chrono::milliseconds(0));
      return;
    }
  }
}

}  // namespace

int run_frontend_process(const std::string& control_endpoint, const std::string& name) {
  Logger log(name);
  zmq::context_t context(1);
  control::Channel control(context, control_endpoint, name);
  auto config = control::receive_config<FrontendProcessConfig>(control, frontend_config_from_json, log);
  if (!config) return 1;
  auto tokenizer = Tokenizer::load(std::filesystem::path(config->model_dir) / "tokenizer.json");
  if (!tokenizer) {
    control.send(control::kFailed, tokenizer.error().message);
    return 1;
  }
  auto tokenizer_config = load_tokenizer_config(config->model_dir);
  if (!tokenizer_config) {
    control.send(control::kFailed, tokenizer_config.error().message);
    return 1;
  }

  std::optional<EventPublisher> hub;
  if (!config->events_endpoint.empty()) hub.emplace(context, config->events_endpoint, name);
  // Request spans over OTLP. Declared before the journey recorder and the
  // engine client, so they outlive every thread that hands them events.
  std::optional<OtlpExporter> otlp;
  std::optional<RequestSpanRecorder> spans;
  if (!config->otlp_traces_endpoint.empty()) {
    try {
      otlp.emplace(process_exporter_options(config->otlp_traces_endpoint, name, log));
    } catch (const std::exception& e) {
      control.send(control::kFailed, e.what());
      return 1;
    }
    spans.emplace(*otlp);
    log.info("OTLP trace export to " + config->otlp_traces_endpoint);
  }
  JourneyRecorder journey({config->enable_journey_tracing, config->journey_tracing_sample_rate,
                           config->seed ^ static_cast<uint64_t>(config->client_index)},
                          hub ? &*hub : nullptr, spans ? &*spans : nullptr);
  if (journey.enabled()) {
    log.info("journey tracing on, sample rate " +
             std::to_string(config->journey_tracing_sample_rate) +
             (hub ? "" : " (no event hub: events go nowhere)"));
  }
  EngineClient engine(context, config->request_endpoint, config->output_endpoint, log);
  engine.set_journey_sink([&journey](int32_t engine_index, const auto& events) {
    journey.core_events(engine_index, events);
  });
  std::optional<HttpServer> http;
  try {
    http.emplace(http_options(*config));
  } catch (const std::exception& e) {
    control.send(control::kFailed, e.what());
    return 1;
  }
  OpenAiServerConfig api_config;
  api_config.served_model_name = config->served_model_name;
  api_config.max_model_len = config->max_model_len;
  api_config.client_index = config->client_index;
  api_config.api_key = config->api_key;
  api_config.priority_scheduling = config->priority_scheduling;
  api_config.metrics_endpoints = config->metrics_endpoints;
  OpenAiServer api(api_config, *tokenizer, *tokenizer_config, engine, journey, log);
  api.install(*http);

  if (auto ok = engine.wait_for_engine(std::chrono::seconds(120)); !ok) {
    control.send(control::kFailed, ok.error().message);
    return 1;
  }
  engine.start();
  control.send(control::kReady, nlohmann::json{{"port", http->port()}}.dump());

  // Serve only once every process is ready.
  while (true) {
    auto message = control.receive(std::chrono::milliseconds(1000));
    if (!message) continue;
    if (message->kind == control::kStart) break;
    if (message->kind == control::kShutdown) return 0;
  }
  http->start();
  log.info("serving " + config->served_model_name + " on http://" + config->host + ":" +
           std::to_string(http->port()));
  serve_until_told(control, *http, api, engine, journey, *config, log);
  log.info("shut down");
  return 0;
}

}  // namespace waypoint
