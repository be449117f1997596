#pragma once
// The arithmetic of `waypoint bench`: from what each request measured to the
// summary it prints and writes. The definitions are vLLM's benchmark_serving
// (calculate_metrics), so a figure here and one from vLLM mean the same thing.
// Pure: no I/O, no clocks, so it is tested against hand-computed examples.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/result.hpp"

namespace waypoint::bench {

// One request as the client saw it. Times are seconds from the moment the
// request was sent (after any --max-concurrency wait, as vLLM measures).
struct RequestRecord {
  bool success = false;
  int64_t prompt_len = 0;
  int64_t output_tokens = 0;  // the usage's completion_tokens, else chunks counted
  double ttft = 0;            // first chunk carrying choices
  double latency = 0;         // last such chunk (vLLM's E2EL)
  std::vector<double> itl;    // gaps between successive such chunks
  std::string error;          // empty on success
  // The response's "id", which the server's traces carry as request.id: it
  // lets `waypoint fit` pair each measured request with its journey.
  std::string response_id;
};

// --goodput ttft:MS tpot:MS e2el:MS; a request is good when every given
// SLO is met (measured <= SLO).
struct Slo {
  std::optional<double> ttft_ms;
  std::optional<double> tpot_ms;
  std::optional<double> e2el_ms;
  bool any() const { return ttft_ms || tpot_ms || e2el_ms; }
};
Result<Slo> parse_goodput(const std::vector<std::string>& items);

// numpy's default percentile (linear interpolation between closest ranks);
// 0 for no values, as vLLM's `np.percentile(x or 0, p)`.
double percentile(std::vector<double> values, double p);

// In milliseconds, as vLLM reports them.
struct Distribution {
  double mean = 0;
  double median = 0;
  double std = 0;                                      // population (numpy's ddof=0)
  std::vector<std::pair<double, double>> percentiles;  // (p, value)
};
Distribution describe_ms(const std::vector<double>& seconds,
                         const std::vector<double>& percentiles);

// Prometheus-style cumulative bucket counts of `values` against `bounds`
// (the +Inf bucket last), so bench's histograms line up with /metrics.
std::vector<int64_t> cumulative_buckets(const std::vector<double>& values,
                                        const std::vector<double>& bounds);

struct Summary {
  int64_t completed = 0;
  int64_t failed = 0;
  int64_t total_input = 0;
  int64_t total_output = 0;
  double duration_s = 0;
  double request_throughput = 0;
  double request_goodput = 0;
  int64_t good_completed = 0;
  double output_throughput = 0;
  double total_token_throughput = 0;
  // Per request, in input order: 0 for a failed request, as vLLM.
  std::vector<int64_t> output_lens;
  // The samples behind each distribution, seconds.
  std::vector<double> ttfts, tpots, itls, e2els;
  Distribution ttft, tpot, itl, e2el;
};

Summary summarize(const std::vector<RequestRecord>& records, double duration_s, const Slo& slo,
                  const std::vector<double>& percentiles);

// vLLM's key suffix for a percentile: "99" for 99.0, "99.9" for 99.9.
std::string percentile_key(double p);

}  // namespace waypoint::bench
