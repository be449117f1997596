#pragma once
// Every Prometheus metric Waypoint exposes: names, help strings, label names
// and histogram buckets, defined once. The vllm:* ones copy vLLM's V1
// PrometheusStatLogger exactly, so dashboards and inference routers built for
// vLLM read ours unchanged; `waypoint bench` buckets its latencies with the
// same bounds so its figures and a scrape line up. Header-only and free of
// prometheus-cpp, so any component can include it.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace waypoint::metrics {

struct MetricInfo {
  std::string_view name;  // as exposed; counters carry their _total suffix
  std::string_view help;
};

// Labels every family has, in vLLM's order, and the extra ones.
inline constexpr std::string_view kLabelModelName = "model_name";
inline constexpr std::string_view kLabelEngine = "engine";
inline constexpr std::string_view kLabelFinishedReason = "finished_reason";
inline constexpr std::string_view kLabelProducer = "producer";  // waypoint:*_dropped_total

// finished_reason values, indexed by FinishReason (STOP=0 .. ERROR=3).
inline constexpr std::array<std::string_view, 4> kFinishedReasons = {"stop", "length", "abort",
                                                                     "error"};

// Engine-level gauges: the freshest SchedulerStats.
inline constexpr MetricInfo kNumRequestsRunning{"vllm:num_requests_running",
                                                "Number of requests in model execution batches."};
inline constexpr MetricInfo kNumRequestsWaiting{"vllm:num_requests_waiting",
                                                "Number of requests waiting to be processed."};
inline constexpr MetricInfo kKvCacheUsagePerc{"vllm:kv_cache_usage_perc",
                                              "KV-cache usage. 1 means 100 percent usage."};

// Engine-level counters: running totals in SchedulerStats.
inline constexpr MetricInfo kNumPreemptions{"vllm:num_preemptions_total",
                                            "Cumulative number of preemption from the engine."};
inline constexpr MetricInfo kPrefixCacheQueries{
    "vllm:prefix_cache_queries_total",
    "Prefix cache queries, in terms of number of queried tokens."};
inline constexpr MetricInfo kPrefixCacheHits{
    "vllm:prefix_cache_hits_total", "Prefix cache hits, in terms of number of cached tokens."};

// Request-level counters: summed over the frontends.
inline constexpr MetricInfo kPromptTokens{"vllm:prompt_tokens_total",
                                          "Number of prefill tokens processed."};
inline constexpr MetricInfo kGenerationTokens{"vllm:generation_tokens_total",
                                              "Number of generation tokens processed."};
inline constexpr MetricInfo kRequestSuccess{"vllm:request_success_total",
                                            "Count of successfully processed requests."};

// Ours. The engine core's step counter, so a client can count the steps
// between two events; traced requests whose journey is still open (0 when
// idle, or state leaked); what a producer dropped rather than block.
inline constexpr MetricInfo kSchedulerStep{
    "waypoint:scheduler_step", "The engine core's scheduler step counter: the last step reported."};
inline constexpr MetricInfo kJourneyCoreLiveStates{
    "waypoint:journey_core_live_states",
    "Traced requests whose journey is open in the engine core."};
inline constexpr MetricInfo kJourneyApiLiveStates{
    "waypoint:journey_api_live_states",
    "Traced requests whose API journey is open in the frontends."};
inline constexpr MetricInfo kEventsDropped{
    "waypoint:events_dropped_total", "Event hub messages a producer dropped rather than block."};
inline constexpr MetricInfo kOtlpSpansDropped{
    "waypoint:otlp_spans_dropped_total",
    "OTLP spans a producer's exporter dropped rather than block (queue full or export failed)."};

// vLLM's bucket bounds (vllm/v1/metrics/loggers.py).
inline constexpr std::array<double, 22> kTimeToFirstTokenBuckets = {
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,  0.25,  0.5,   0.75,
    1.0,   2.5,   5.0,  7.5,  10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0};
// Inter-token latency and per-request time per output token.
inline constexpr std::array<double, 19> kInterTokenLatencyBuckets = {
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2,  0.3,  0.4, 0.5,
    0.75, 1.0,   2.5,  5.0,   7.5, 10.0, 20.0, 40.0, 80.0};
// End to end, queue, prefill, decode and inference time.
inline constexpr std::array<double, 21> kRequestLatencyBuckets = {
    0.3,  0.5,  0.8,  1.0,  1.5,   2.0,   2.5,   5.0,   10.0,   15.0,  20.0,
    30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};

// vLLM's build_1_2_5_buckets: 1, 2, 5, 10, 20, 50, ... up to max_value.
inline std::vector<double> build_1_2_5_buckets(int64_t max_value) {
  std::vector<double> buckets;
  for (int64_t scale = 1; scale <= max_value; scale *= 10) {
    for (int64_t mantissa : {1, 2, 5}) {
      if (mantissa * scale > max_value) return buckets;
      buckets.push_back(static_cast<double>(mantissa * scale));
    }
  }
  return buckets;
}

// The request-level histograms, in the order of their counts on the wire
// between frontends (frontend/metrics_snapshot.hpp): append only.
enum class RequestHistogram : uint8_t {
  kTimeToFirstToken,
  kInterTokenLatency,
  kE2eRequestLatency,
  kQueueTime,
  kInferenceTime,
  kPrefillTime,
  kDecodeTime,
  kTimePerOutputToken,
  kPromptTokens,
  kGenerationTokens,
  kMaxTokensParam,
};
inline constexpr std::size_t kNumRequestHistograms = 11;

enum class BucketSet : uint8_t { kTimeToFirstToken, kInterTokenLatency, kRequestLatency, kTokens };

struct HistogramInfo {
  MetricInfo metric;
  BucketSet buckets;
};

inline constexpr std::array<HistogramInfo, kNumRequestHistograms> kRequestHistograms = {{
    {{"vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds."},
     BucketSet::kTimeToFirstToken},
    {{"vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds."},
     BucketSet::kInterTokenLatency},
    {{"vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds."},
     BucketSet::kRequestLatency},
    {{"vllm:request_queue_time_seconds", "Histogram of time spent in WAITING phase for request."},
     BucketSet::kRequestLatency},
    {{"vllm:request_inference_time_seconds",
      "Histogram of time spent in RUNNING phase for request."},
     BucketSet::kRequestLatency},
    {{"vllm:request_prefill_time_seconds", "Histogram of time spent in PREFILL phase for request."},
     BucketSet::kRequestLatency},
    {{"vllm:request_decode_time_seconds", "Histogram of time spent in DECODE phase for request."},
     BucketSet::kRequestLatency},
    {{"vllm:request_time_per_output_token_seconds",
      "Histogram of time_per_output_token_seconds per request."},
     BucketSet::kInterTokenLatency},
    {{"vllm:request_prompt_tokens", "Number of prefill tokens processed."}, BucketSet::kTokens},
    {{"vllm:request_generation_tokens", "Number of generation tokens processed."},
     BucketSet::kTokens},
    {{"vllm:request_params_max_tokens", "Histogram of the max_tokens request parameter."},
     BucketSet::kTokens},
}};

inline const HistogramInfo& histogram_info(RequestHistogram h) {
  return kRequestHistograms[static_cast<std::size_t>(h)];
}

// The upper bounds (the +Inf bucket implied) of a histogram. Token counts
// scale with the model: vLLM buckets them 1-2-5 up to max_model_len.
inline std::vector<double> bucket_bounds(BucketSet set, int32_t max_model_len) {
  switch (set) {
    case BucketSet::kTimeToFirstToken:
      return {kTimeToFirstTokenBuckets.begin(), kTimeToFirstTokenBuckets.end()};
    case BucketSet::kInterTokenLatency:
      return {kInterTokenLatencyBuckets.begin(), kInterTokenLatencyBuckets.end()};
    case BucketSet::kRequestLatency:
      return {kRequestLatencyBuckets.begin(), kRequestLatencyBuckets.end()};
    case BucketSet::kTokens:
      return build_1_2_5_buckets(max_model_len);
  }
  return {};
}

inline std::vector<double> bucket_bounds(RequestHistogram h, int32_t max_model_len) {
  return bucket_bounds(histogram_info(h).buckets, max_model_len);
}

}  // namespace waypoint::metrics
