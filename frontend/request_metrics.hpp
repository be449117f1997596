#pragma once
// This frontend's request-level metrics, accumulated: vLLM's IterationStats
// (tokens, TTFT, ITL, as they happen) and FinishedRequestStats (one set per
// request as it ends). The RequestTracker of every request feeds it, from the
// engine client's output thread and the HTTP threads; a scrape reads it.
#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include "frontend/metrics_snapshot.hpp"
#include "proto/engine_core_output.hpp"
#include "telemetry/metric_definitions.hpp"

namespace waypoint {

// One request's numbers as it ends. A phase it never reached (a request
// aborted while queued has no prefill) has no value and is not observed.
struct FinishedRequest {
  FinishReason reason = FinishReason::STOP;
  int32_t prompt_tokens = 0;
  int32_t generation_tokens = 0;
  int32_t max_tokens = 0;
  double e2e_latency = 0.0;
  std::optional<double> queue_time;
  std::optional<double> prefill_time;
  std::optional<double> decode_time;
  std::optional<double> inference_time;
  std::optional<double> time_per_output_token;
};

class RequestMetrics {
 public:
  explicit RequestMetrics(int32_t max_model_len);

  // The first token: its prompt counts as processed, as in vLLM.
  void first_token(int32_t prompt_tokens, double time_to_first_token);
  void generated(int64_t tokens);
  void inter_token(double latency);
  void finished(const FinishedRequest& request);

  RequestMetricsSnapshot snapshot() const;
  // An empty snapshot of this shape, to sum others into.
  RequestMetricsSnapshot zero() const;
  const std::vector<double>& bounds(metrics::RequestHistogram h) const {
    return bounds_[static_cast<size_t>(h)];
  }

 private:
  void observe(metrics::RequestHistogram h, double value);  // mutex_ held

  std::array<std::vector<double>, metrics::kNumRequestHistograms> bounds_;
  mutable std::mutex mutex_;
  RequestMetricsSnapshot totals_;
};

}  // namespace waypoint
