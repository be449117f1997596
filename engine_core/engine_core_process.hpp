#pragma once
// The engine core as its own process under `waypoint serve`: the busy loop
// of schedule(), execute on the workers, update_from_output(), fed by the
// frontends' requests and answering each frontend with its own outputs.
#include <cstdint>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "engine_core/frontend_link.hpp"
#include "engine_core/scheduler_config.hpp"

namespace waypoint {

struct EngineCoreProcessConfig {
  SchedulerConfig scheduler;
  int32_t engine_index = 0;
  int32_t world_size = 1;
  std::vector<FrontendEndpoints> frontends;  // index = client_index
  std::string steps_endpoint;                // we bind: the broadcast of steps
  std::string reply_endpoint;                // we bind: rank 0's replies
  std::string events_endpoint;               // the event hub's intake; empty: no hub
  bool kv_events = false;                    // --kv-events: publish prefix-cache changes
  std::string otlp_traces_endpoint;          // --otlp-traces-endpoint: step spans; empty: off
  int64_t busy_poll_us = 0;                  // --busy-poll-us: spin awaiting a step's reply
};

std::string to_json_text(const EngineCoreProcessConfig& config);
Result<EngineCoreProcessConfig> engine_core_config_from_json(const std::string& text);

// Connects to the launcher's control endpoint as `name` and runs until told
// to shut down. Returns the process exit code.
int run_engine_core_process(const std::string& control_endpoint, const std::string& name);

}  // namespace waypoint
