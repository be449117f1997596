#include "perf/bench_metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <stdexcept>

namespace waypoint::bench {

Result<Slo> parse_goodput(const std::vector<std::string>& items) {
  Slo slo;
  for (const std::string& item : items) {
    const size_t colon = item.find(':');
    if (colon == std::string::npos) {
      return Error{"--goodput '" + item + "' is not KEY:VALUE (ttft:MS, tpot:MS, e2el:MS)"};
    }
    const std::string key = item.substr(0, colon);
    const std::string text = item.substr(colon + 1);
    double ms = 0;
    try {
      size_t used = 0;
      ms = std::stod(text, &used);
      if (used != text.size()) throw std::invalid_argument(text);
    } catch (const std::exception&) {
      return Error{"--goodput '" + item + "': '" + text + "' is not a number of milliseconds"};
    }
    if (!(ms >= 0) || !std::isfinite(ms)) {
      return Error{"--goodput '" + item + "': the SLO must be a non-negative number"};
    }
    if (key == "ttft") {
      slo.ttft_ms = ms;
    } else if (key == "tpot") {
      slo.tpot_ms = ms;
    } else if (key == "e2el") {
      slo.e2el_ms = ms;
    } else {
      return Error{"--goodput '" + item + "': '" + key + "' is not one of ttft, tpot, e2el"};
    }
  }
  return slo;
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double rank = p / 100.0 * static_cast<double>(values.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(rank));
  const size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (values[hi] - values[lo]) * (rank - static_cast<double>(lo));
}

Distribution describe_ms(const std::vector<double>& seconds,
                         const std::vector<double>& percentiles) {
  Distribution d;
  if (!seconds.empty()) {
    const double n = static_cast<double>(seconds.size());
    const double mean = std::accumulate(seconds.begin(), seconds.end(), 0.0) / n;
    double sq = 0;
    for (double v : seconds) sq += (v - mean) * (v - mean);
    d.mean = mean * 1000;
    d.std = std::sqrt(sq / n) * 1000;
    d.median = percentile(seconds, 50) * 1000;
  }
  for (double p : percentiles) d.percentiles.emplace_back(p, percentile(seconds, p) * 1000);
  return d;
}

std::vector<int64_t> cumulative_buckets(const std::vector<double>& values,
                                        const std::vector<double>& bounds) {
  std::vector<int64_t> counts(bounds.size() + 1, 0);
  for (double v : values) {
    for (size_t i = 0; i < bounds.size(); ++i) {
      if (v <= bounds[i]) ++counts[i];
    }
    ++counts.back();
  }
  return counts;
}

Summary summarize(const std::vector<RequestRecord>& records, double duration_s, const Slo& slo,
                  const std::vector<double>& percentiles) {
  Summary s;
  s.duration_s = duration_s;
  // vLLM counts a request with one output token as TPOT 0 for goodput, while
  // leaving it out of the TPOT distribution.
  std::vector<double> goodput_tpots;
  for (const RequestRecord& r : records) {
    if (!r.success) {
      ++s.failed;
      s.output_lens.push_back(0);
      continue;
    }
    ++s.completed;
    s.output_lens.push_back(r.output_tokens);
    s.total_input += r.prompt_len;
    s.total_output += r.output_tokens;
    double tpot = 0;
    if (r.output_tokens > 1) {
      tpot = (r.latency - r.ttft) / static_cast<double>(r.output_tokens - 1);
      s.tpots.push_back(tpot);
    }
    goodput_tpots.push_back(tpot);
    s.itls.insert(s.itls.end(), r.itl.begin(), r.itl.end());
    s.ttfts.push_back(r.ttft);
    s.e2els.push_back(r.latency);
  }
  if (slo.any()) {
    for (size_t i = 0; i < s.ttfts.size(); ++i) {
      const bool good = (!slo.ttft_ms || s.ttfts[i] * 1000 <= *slo.ttft_ms) &&
                        (!slo.tpot_ms || goodput_tpots[i] * 1000 <= *slo.tpot_ms) &&
                        (!slo.e2el_ms || s.e2els[i] * 1000 <= *slo.e2el_ms);
      if (good) ++s.good_completed;
    }
  }
  if (duration_s > 0) {
    s.request_throughput = static_cast<double>(s.completed) / duration_s;
    s.request_goodput = static_cast<double>(s.good_completed) / duration_s;
    s.output_throughput = static_cast<double>(s.total_output) / duration_s;
    s.total_token_throughput = static_cast<double>(s.total_input + s.total_output) / duration_s;
  }
  s.ttft = describe_ms(s.ttfts, percentiles);
  s.tpot = describe_ms(s.tpots, percentiles);
  s.itl = describe_ms(s.itls, percentiles);
  s.e2el = describe_ms(s.e2els, percentiles);
  return s;
}

std::string percentile_key(double p) {
  if (p == std::floor(p)) return std::to_string(static_cast<int64_t>(p));
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g", p);
  return buffer;
}

}  // namespace waypoint::bench
