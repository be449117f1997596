#include "frontend/request_tracker.hpp"

#include <algorithm>
#include <chrono>

namespace waypoint {

namespace {

// Two clock reads across processes can land a hair out of order; a latency
// is never negative.
double span(double from, double to) { return std::max(0.0, to - from); }

}  // namespace

double monotonic_now() {
  // steady_clock is CLOCK_MONOTONIC on Linux: one clock for every process.
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

RequestTracker::RequestTracker(std::shared_ptr<RequestMetrics> sink, int32_t prompt_tokens,
                               int32_t max_tokens, double arrival)
    : sink_(std::move(sink)),
      prompt_tokens_(prompt_tokens),
      max_tokens_(max_tokens),
      arrival_(arrival) {}

void RequestTracker::events(const std::vector<EngineCoreEvent>& events) {
  for (const EngineCoreEvent& e : events) {
    switch (e.type) {
      case EngineCoreEventType::QUEUED:
        if (queued_ == 0.0) queued_ = e.timestamp;
        break;
      case EngineCoreEventType::SCHEDULED:
        // A preempted request is scheduled again; its phases date from the first time.
        if (scheduled_ == 0.0) scheduled_ = e.timestamp;
        break;
      case EngineCoreEventType::PREEMPTED:
        // Counted by the engine (SchedulerStats::num_preemptions).
        break;
    }
  }
}

void RequestTracker::received(size_t n, double batch_timestamp) {
  if (finished_) return;
  unkept_.insert(unkept_.end(), n, batch_timestamp);
}

void RequestTracker::keep(size_t n) {
  if (finished_) return;
  size_t newly = 0;
  while (kept_ < n && !unkept_.empty()) {
    const double ts = unkept_.front();
    unkept_.pop_front();
    if (kept_ == 0) {
      first_token_ = ts;
      sink_->first_token(prompt_tokens_, span(arrival_, ts));
    } else if (ts != last_token_) {
      // One gap per batch: tokens of one batch share its timestamp.
      sink_->inter_token(span(last_token_, ts));
    }
    last_token_ = ts;
    ++kept_;
    ++newly;
  }
  if (newly > 0) sink_->generated(static_cast<int64_t>(newly));
}

void RequestTracker::finish(FinishReason reason, double finish_time) {
  if (finished_) return;
  finished_ = true;
  FinishedRequest r;
  r.reason = reason;
  r.prompt_tokens = prompt_tokens_;
  r.generation_tokens = static_cast<int32_t>(kept_);
  r.max_tokens = max_tokens_;
  r.e2e_latency = span(arrival_, finish_time);
  if (queued_ != 0.0 && scheduled_ != 0.0) r.queue_time = span(queued_, scheduled_);
  if (kept_ > 0) {
    r.decode_time = span(first_token_, last_token_);
    r.time_per_output_token = kept_ > 1 ? *r.decode_time / static_cast<double>(kept_ - 1) : 0.0;
    if (scheduled_ != 0.0) {
      r.prefill_time = span(scheduled_, first_token_);
      r.inference_time = span(scheduled_, last_token_);
    }
  }
  sink_->finished(r);
  unkept_.clear();
}

}  // namespace waypoint
