#pragma once
// A frontend as its own process under `waypoint serve`: the OpenAI API on the
// shared HTTP port, talking to the engine core over its own socket pair.
#include <cstdint>
#include <string>
#include <vector>

#include "base/result.hpp"

namespace waypoint {

struct FrontendProcessConfig {
  std::string model_dir;
  std::string served_model_name;
  std::string host = "127.0.0.1";
  uint16_t port = 8000;
  int32_t client_index = 0;
  int32_t max_model_len = 2048;
  std::string request_endpoint;  // we bind a ROUTER; the engine core connects
  std::string output_endpoint;   // we bind a PULL; the engine core pushes
  int64_t max_request_bytes = 10 << 20;
  std::string api_key;
  bool priority_scheduling = false;
  int32_t drain_timeout_s = 30;  // SIGTERM: how long in-flight requests may take
  bool enable_journey_tracing = false;     // --enable-journey-tracing
  double journey_tracing_sample_rate = 1.0;  // --journey-tracing-sample-rate
  uint64_t seed = 0;                          // --seed: the sampling sequence
  std::string events_endpoint;  // the event hub's intake; empty: no hub
  std::string otlp_traces_endpoint;  // --otlp-traces-endpoint: request spans; empty: off
  // Every frontend's metrics endpoint, by client index: this one binds its
  // own, and a scrape asks the others, so /metrics covers the whole server.
  std::vector<std::string> metrics_endpoints;
};

std::string to_json_text(const FrontendProcessConfig& config);
Result<FrontendProcessConfig> frontend_config_from_json(const std::string& text);

// Connects to the launcher's control endpoint as `name` and serves until told
// to stop. Returns the process exit code.
int run_frontend_process(const std::string& control_endpoint, const std::string& name);

}  // namespace waypoint
