#include "frontend/frontend_process.hpp"

#include <chrono>
#include <filesystem>
#include <optional>

#include <nlohmann/json.hpp>
#include <zmq.hpp>

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

using nlohmann::json;

std::string to_json_text(const FrontendProcessConfig& c) {
  return json{{"model_dir", c.model_dir},
              {"served_model_name", c.served_model_name},
              {"host", c.host},
              {"port", c.port},
              {"client_index", c.client_index},
              {"max_model_len", c.max_model_len},
              {"request_endpoint", c.request_endpoint},
              {"output_endpoint", c.output_endpoint},
              {"max_request_bytes", c.max_request_bytes},
              {"api_key", c.api_key},
              {"priority_scheduling", c.priority_scheduling},
              {"drain_timeout_s", c.drain_timeout_s},
              {"enable_journey_tracing", c.enable_journey_tracing},
              {"journey_tracing_sample_rate", c.journey_tracing_sample_rate},
              {"seed", c.seed},
              {"events_endpoint", c.events_endpoint},
              {"otlp_traces_endpoint", c.otlp_traces_endpoint},
              {"metrics_endpoints", c.metrics_endpoints}}
      .dump();
}

Result<FrontendProcessConfig> frontend_config_from_json(const std::string& text) {
  try {
    const json j = json::parse(text);
    FrontendProcessConfig c;
    c.model_dir = j.at("model_dir").get<std::string>();
    c.served_model_name = j.at("served_model_name").get<std::string>();
    c.host = j.at("host").get<std::string>();
    c.port = j.at("port").get<uint16_t>();
    c.client_index = j.at("client_index").get<int32_t>();
    c.max_model_len = j.at("max_model_len").get<int32_t>();
    c.request_endpoint = j.at("request_endpoint").get<std::string>();
    c.output_endpoint = j.at("output_endpoint").get<std::string>();
    c.max_request_bytes = j.at("max_request_bytes").get<int64_t>();
    c.api_key = j.at("api_key").get<std::string>();
    c.priority_scheduling = j.at("priority_scheduling").get<bool>();
    c.drain_timeout_s = j.at("drain_timeout_s").get<int32_t>();
    c.enable_journey_tracing = j.at("enable_journey_tracing").get<bool>();
    c.journey_tracing_sample_rate = j.at("journey_tracing_sample_rate").get<double>();
    c.seed = j.at("seed").get<uint64_t>();
    c.events_endpoint = j.at("events_endpoint").get<std::string>();
    c.otlp_traces_endpoint = j.at("otlp_traces_endpoint").get<std::string>();
    c.metrics_endpoints = j.at("metrics_endpoints").get<std::vector<std::string>>();
    return c;
  } catch (const json::exception& e) {
    return Error{std::string("frontend config: ") + e.what()};
  }
}

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
    HttpServerOptions options;
    options.host = config->host;
    options.port = config->port;
    options.max_request_bytes = static_cast<size_t>(config->max_request_bytes);
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
    http.emplace(std::move(options));
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
  control.send(control::kReady, json{{"port", http->port()}}.dump());

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

  while (true) {
    auto message = control.receive(std::chrono::milliseconds(1000));
    if (!message) continue;
    if (message->kind == control::kEngineDead) {
      journey.engine_dead(message->payload);
      engine.mark_dead(message->payload);
    } else if (message->kind == control::kDrain) {
      api.start_draining();
      log.info("draining " + std::to_string(http->active_requests()) + " request(s)");
      // In-flight requests finish; any still running at the deadline see
      // their connection closed and abort in the engine.
      http->stop(std::chrono::seconds(config->drain_timeout_s));
      break;
    } else if (message->kind == control::kShutdown) {
      http->stop(std::chrono::milliseconds(0));
      break;
    }
  }
  log.info("shut down");
  return 0;
}

}  // namespace waypoint
