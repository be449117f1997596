#pragma once
// The frontend's Prometheus registry behind GET /metrics, with vLLM's metric
// names so existing dashboards and routers read it unchanged. The engine's
// gauges come from the SchedulerStats riding on every EngineCoreOutputs.
#include <memory>
#include <string>

#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "proto/engine_core_output.hpp"

namespace waypoint {

inline constexpr const char* kMetricNumRequestsRunning = "vllm:num_requests_running";
inline constexpr const char* kMetricNumRequestsWaiting = "vllm:num_requests_waiting";
inline constexpr const char* kMetricKvCacheUsagePerc = "vllm:kv_cache_usage_perc";
// Ours: the engine core's step counter, so a client can count steps between two events.
inline constexpr const char* kMetricSchedulerStep = "waypoint:scheduler_step";

class ServerMetrics {
 public:
  ServerMetrics(const std::string& model_name, int32_t engine_index);

  void observe(const SchedulerStats& stats);
  // The Prometheus text exposition format (version 0.0.4).
  std::string render() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Gauge* running_;
  prometheus::Gauge* waiting_;
  prometheus::Gauge* kv_usage_;
  prometheus::Gauge* step_;
};

}  // namespace waypoint
