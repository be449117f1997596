#pragma once
// One request's timeline as this frontend sees it, turned into vLLM's
// request-level metrics with vLLM's definitions, all on CLOCK_MONOTONIC (the
// engine core stamps the same clock):
//   TTFT      = engine timestamp of the batch with the first token - arrival
//   ITL       = gap between successive batches carrying its tokens
//   e2e       = finish - arrival
//   queue     = first SCHEDULED - QUEUED
//   prefill   = first token - first SCHEDULED
//   decode    = last token - first token
//   inference = last token - first SCHEDULED
//   TPOT      = decode / (generated - 1)
// Tokens count only once the response is known to keep them: a stop string
// found in the frontend drops whatever the engine sent after it, and vLLM,
// which checks stop strings on the same pass, never counts those.
// Not thread-safe: its RequestStream guards it.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "frontend/request_metrics.hpp"
#include "proto/engine_core_output.hpp"

namespace waypoint {

class RequestTracker {
 public:
  // `arrival`: monotonic seconds when the frontend took the request.
  RequestTracker(std::shared_ptr<RequestMetrics> sink, int32_t prompt_tokens, int32_t max_tokens,
                 double arrival);

  void events(const std::vector<EngineCoreEvent>& events);
  // `n` tokens came in one engine batch stamped `batch_timestamp`.
  void received(size_t n, double batch_timestamp);
  // The response keeps the first `n` tokens received (a running total; a
  // smaller n than before changes nothing).
  void keep(size_t n);
  // Observes the finished-request histograms; only the first call counts.
  void finish(FinishReason reason, double finish_time);

  size_t num_received() const { return kept_ + unkept_.size(); }
  bool finished() const { return finished_; }

 private:
  std::shared_ptr<RequestMetrics> sink_;
  int32_t prompt_tokens_;
  int32_t max_tokens_;
  double arrival_;
  double queued_ = 0.0;  // 0: not seen
  double scheduled_ = 0.0;
  double first_token_ = 0.0;
  double last_token_ = 0.0;
  size_t kept_ = 0;
  std::deque<double> unkept_;  // the batch timestamp of each token not yet kept
  bool finished_ = false;
};

// Now, in the seconds of CLOCK_MONOTONIC, as the engine core stamps them.
double monotonic_now();

}  // namespace waypoint
