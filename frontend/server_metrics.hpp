#pragma once
// The frontend's GET /metrics: vLLM's metric families (names, labels and
// buckets from telemetry/metric_definitions.hpp) so existing dashboards and
// routers read it unchanged, plus Waypoint's own waypoint:* ones.
//
// With several frontends, the one scraped speaks for the whole server
// (docs/metrics.md): it sums every frontend's request-level counters and
// histograms, and takes the engine-level values from the freshest
// SchedulerStats any of them received.
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "frontend/metrics_snapshot.hpp"
#include "frontend/request_metrics.hpp"
#include "proto/engine_core_output.hpp"

namespace waypoint {

class ServerMetrics {
 public:
  ServerMetrics(std::string model_name, int32_t engine_index, int32_t client_index,
                int32_t max_model_len);

  // What this frontend's requests report to (through their streams).
  const std::shared_ptr<RequestMetrics>& requests() const { return requests_; }

  // Engine stats as they arrive; the freshest (largest step) is kept.
  void observe(const SchedulerStats& stats);
  // This frontend's own: open API journeys, and what its event-hub publisher
  // and its OTLP exporter dropped so far.
  void observe_frontend(int64_t api_live_states, uint64_t events_dropped, uint64_t spans_dropped);

  // This frontend's part, for a peer's scrape.
  FrontendMetricsSnapshot snapshot() const;
  // The Prometheus text exposition format (version 0.0.4) of this frontend
  // and the `peers` together. A peer whose snapshot does not fit (another
  // bucket layout) is left out.
  std::string render(const std::vector<FrontendMetricsSnapshot>& peers = {});

 private:
  const std::string model_name_;
  const int32_t engine_index_;
  const int32_t client_index_;
  std::shared_ptr<RequestMetrics> requests_;

  mutable std::mutex mutex_;
  std::optional<SchedulerStats> engine_;  // the freshest seen, here or from a peer
  int64_t api_live_states_ = 0;
  uint64_t events_dropped_ = 0;
  uint64_t spans_dropped_ = 0;
};

}  // namespace waypoint
