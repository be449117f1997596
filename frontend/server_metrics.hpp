#pragma once
// The frontend's Prometheus registry behind GET /metrics, with vLLM's metric
// names so existing dashboards and routers read it unchanged. The engine's
// gauges come from the SchedulerStats riding on every EngineCoreOutputs.
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "proto/engine_core_output.hpp"

namespace waypoint {

inline constexpr const char* kMetricNumRequestsRunning = "vllm:num_requests_running";
inline constexpr const char* kMetricNumRequestsWaiting = "vllm:num_requests_waiting";
inline constexpr const char* kMetricKvCacheUsagePerc = "vllm:kv_cache_usage_perc";
// Ours: the engine core's step counter, so a client can count steps between two events.
inline constexpr const char* kMetricSchedulerStep = "waypoint:scheduler_step";
// Ours, for journey tracing: traced requests whose journey is still open, in
// the core and in this frontend (both read 0 when idle, or state leaked), and
// hub messages a producer dropped rather than block (label producer).
inline constexpr const char* kMetricJourneyCoreLiveStates = "waypoint:journey_core_live_states";
inline constexpr const char* kMetricJourneyApiLiveStates = "waypoint:journey_api_live_states";
inline constexpr const char* kMetricEventsDropped = "waypoint:events_dropped_total";

class ServerMetrics {
 public:
  ServerMetrics(const std::string& model_name, int32_t engine_index, int32_t client_index);

  void observe(const SchedulerStats& stats);
  // This frontend's own: open API journeys, and its hub publisher's drops so far.
  void observe_frontend(int64_t api_live_states, uint64_t events_dropped);
  // The Prometheus text exposition format (version 0.0.4).
  std::string render() const;

 private:
  // Producers report drops as running totals; a counter only goes up by deltas.
  static void advance(prometheus::Counter& counter, uint64_t total);

  std::mutex mutex_;  // two scrapes at once must not both add the same delta
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Gauge* running_;
  prometheus::Gauge* waiting_;
  prometheus::Gauge* kv_usage_;
  prometheus::Gauge* step_;
  prometheus::Gauge* core_live_;
  prometheus::Gauge* api_live_;
  prometheus::Counter* core_dropped_;
  prometheus::Counter* frontend_dropped_;
};

}  // namespace waypoint
