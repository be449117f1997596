#include "frontend/request_metrics.hpp"

namespace waypoint {

using metrics::RequestHistogram;

RequestMetrics::RequestMetrics(int32_t max_model_len) {
  for (size_t i = 0; i < metrics::kNumRequestHistograms; ++i) {
    bounds_[i] = metrics::bucket_bounds(static_cast<RequestHistogram>(i), max_model_len);
  }
  totals_ = zero();
}

RequestMetricsSnapshot RequestMetrics::zero() const {
  RequestMetricsSnapshot s;
  s.success.assign(metrics::kFinishedReasons.size(), 0);
  for (const auto& b : bounds_) s.histograms.push_back(HistogramCounts::for_bounds(b));
  return s;
}

void RequestMetrics::observe(RequestHistogram h, double value) {
  const auto i = static_cast<size_t>(h);
  totals_.histograms[i].observe(bounds_[i], value);
}

void RequestMetrics::first_token(int32_t prompt_tokens, double time_to_first_token) {
  std::lock_guard lock(mutex_);
  totals_.prompt_tokens += static_cast<uint64_t>(prompt_tokens);
  observe(RequestHistogram::kTimeToFirstToken, time_to_first_token);
}

void RequestMetrics::generated(int64_t tokens) {
  std::lock_guard lock(mutex_);
  totals_.generation_tokens += static_cast<uint64_t>(tokens);
}

void RequestMetrics::inter_token(double latency) {
  std::lock_guard lock(mutex_);
  observe(RequestHistogram::kInterTokenLatency, latency);
}

void RequestMetrics::finished(const FinishedRequest& r) {
  std::lock_guard lock(mutex_);
  const auto reason = static_cast<size_t>(r.reason);
  if (reason < totals_.success.size()) ++totals_.success[reason];
  observe(RequestHistogram::kE2eRequestLatency, r.e2e_latency);
  auto maybe = [&](RequestHistogram h, const std::optional<double>& v) {
    if (v) observe(h, *v);
  };
  maybe(RequestHistogram::kQueueTime, r.queue_time);
  maybe(RequestHistogram::kPrefillTime, r.prefill_time);
  maybe(RequestHistogram::kDecodeTime, r.decode_time);
  maybe(RequestHistogram::kInferenceTime, r.inference_time);
  maybe(RequestHistogram::kTimePerOutputToken, r.time_per_output_token);
  observe(RequestHistogram::kPromptTokens, r.prompt_tokens);
  observe(RequestHistogram::kGenerationTokens, r.generation_tokens);
  observe(RequestHistogram::kMaxTokensParam, r.max_tokens);
}

RequestMetricsSnapshot RequestMetrics::snapshot() const {
  std::lock_guard lock(mutex_);
  return totals_;
}

}  // namespace waypoint
