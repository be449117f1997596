#pragma once
// What one frontend hands another when a scrape lands there (docs/metrics.md):
// its request-level metrics, the freshest engine stats it has seen, and its
// own producer counters. Positional msgpack arrays like every wire type
// (docs/architecture.md, "Wire contract"): fields are only appended, a reader takes defaults for
// the missing ones and ignores extras.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include <msgpack.hpp>

#include "proto/engine_core_output.hpp"

namespace waypoint {

// A histogram as counts per bucket, not cumulative, the last one +Inf.
struct HistogramCounts {
  static constexpr const char* kWireName = "HistogramCounts";
  std::vector<uint64_t> counts;
  double sum = 0.0;

  static HistogramCounts for_bounds(const std::vector<double>& bounds) {
    return {std::vector<uint64_t>(bounds.size() + 1, 0), 0.0};
  }
  // Prometheus buckets are "less than or equal": a value on a bound counts in it.
  void observe(const std::vector<double>& bounds, double value);
  uint64_t count() const;
  // False, and nothing added, when the bucket layouts differ.
  bool add(const HistogramCounts& other);

  bool operator==(const HistogramCounts&) const = default;
  MSGPACK_DEFINE_ARRAY(counts, sum)
};

// Counters and histograms that every frontend keeps for its own requests,
// and that a scrape sums over the frontends.
struct RequestMetricsSnapshot {
  static constexpr const char* kWireName = "RequestMetricsSnapshot";
  uint64_t prompt_tokens = 0;
  uint64_t generation_tokens = 0;
  std::vector<uint64_t> success;            // by FinishReason: stop, length, abort, error
  std::vector<HistogramCounts> histograms;  // by metrics::RequestHistogram

  // False, and nothing added, when the shapes differ (another build or model).
  bool add(const RequestMetricsSnapshot& other);

  bool operator==(const RequestMetricsSnapshot&) const = default;
  MSGPACK_DEFINE_ARRAY(prompt_tokens, generation_tokens, success, histograms)
};

struct FrontendMetricsSnapshot {
  static constexpr const char* kWireName = "FrontendMetricsSnapshot";
  int32_t client_index = 0;
  RequestMetricsSnapshot requests;
  std::optional<SchedulerStats> engine;  // the freshest this frontend received
  int64_t api_live_states = 0;           // its open API journeys
  uint64_t events_dropped = 0;           // by its event-hub publisher, since it started
  uint64_t spans_dropped = 0;            // by its OTLP exporter, since it started

  bool operator==(const FrontendMetricsSnapshot&) const = default;
  MSGPACK_DEFINE_ARRAY(client_index, requests, engine, api_live_states, events_dropped,
                       spans_dropped)
};

// Of two engine snapshots, the later one: the larger step counter. Counters in
// SchedulerStats are running totals, so the later one holds every earlier one.
const std::optional<SchedulerStats>& fresher(const std::optional<SchedulerStats>& a,
                                             const std::optional<SchedulerStats>& b);

}  // namespace waypoint
