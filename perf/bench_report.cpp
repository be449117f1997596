#include "perf/bench_report.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "telemetry/metric_definitions.hpp"

namespace waypoint::bench {

namespace {

using Json = nlohmann::json;

std::string row(const std::string& label, const std::string& value) {
  char buffer[128];
  std::snprintf(buffer, sizeof buffer, "%-40s %-10s\n", label.c_str(), value.c_str());
  return buffer;
}

std::string fixed(double v) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.2f", v);
  return buffer;
}

// "{s:{c}^{n}}": the title centred in 50 columns of `fill`.
std::string banner(const std::string& title, char fill) {
  const std::size_t width = 50;
  if (title.size() >= width) return title + "\n";
  const std::size_t left = (width - title.size()) / 2;
  return std::string(left, fill) + title + std::string(width - title.size() - left, fill) + "\n";
}

struct Section {
  const char* key;
  const char* name;
  const char* header;
  const Distribution Summary::*distribution;
  const std::vector<double> Summary::*samples;
  metrics::BucketSet buckets;
};

constexpr Section kSections[] = {
    {"ttft", "TTFT", "Time to First Token", &Summary::ttft, &Summary::ttfts,
     metrics::BucketSet::kTimeToFirstToken},
    {"tpot", "TPOT", "Time per Output Token (excl. 1st token)", &Summary::tpot, &Summary::tpots,
     metrics::BucketSet::kInterTokenLatency},
    {"itl", "ITL", "Inter-token Latency", &Summary::itl, &Summary::itls,
     metrics::BucketSet::kInterTokenLatency},
    {"e2el", "E2EL", "End-to-end Latency", &Summary::e2el, &Summary::e2els,
     metrics::BucketSet::kRequestLatency},
};

std::string rate_text(double rate) {
  if (std::isnan(rate)) return "recorded trace";
  return std::isinf(rate) ? "inf" : fixed(rate);
}

}  // namespace

std::string summary_table(const RunInfo& info, const Summary& s) {
  std::string t = banner(" Serving Benchmark Result ", '=');
  t += row("Successful requests:", std::to_string(s.completed));
  t += row("Failed requests:", std::to_string(s.failed));
  if (info.max_concurrency) {
    t += row("Maximum request concurrency:", std::to_string(*info.max_concurrency));
  }
  t += row("Request rate configured (RPS):", rate_text(info.request_rate));
  t += row("Benchmark duration (s):", fixed(s.duration_s));
  t += row("Total input tokens:", std::to_string(s.total_input));
  t += row("Total generated tokens:", std::to_string(s.total_output));
  t += row("Request throughput (req/s):", fixed(s.request_throughput));
  if (info.goodput) t += row("Request goodput (req/s):", fixed(s.request_goodput));
  t += row("Output token throughput (tok/s):", fixed(s.output_throughput));
  t += row("Total Token throughput (tok/s):", fixed(s.total_token_throughput));
  for (const Section& section : kSections) {
    const Distribution& d = s.*(section.distribution);
    t += banner(section.header, '-');
    t += row(std::string("Mean ") + section.name + " (ms):", fixed(d.mean));
    t += row(std::string("Median ") + section.name + " (ms):", fixed(d.median));
    for (const auto& [p, value] : d.percentiles) {
      t += row("P" + percentile_key(p) + " " + section.name + " (ms):", fixed(value));
    }
  }
  t += std::string(50, '=') + "\n";
  return t;
}

Json result_json(const RunInfo& info, const Summary& s, const std::vector<RequestRecord>& records) {
  Json j = Json::object();
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char date[32];
  std::strftime(date, sizeof date, "%Y%m%d-%H%M%S", std::localtime(&now));
  j["date"] = date;
  j["backend"] = "waypoint";
  j["model_id"] = info.model;
  j["endpoint"] = info.endpoint;
  j["dataset_name"] = info.dataset;
  j["num_prompts"] = info.num_prompts;
  // JSON has no infinity; vLLM's Python writes the float, we the word.
  j["request_rate"] = std::isinf(info.request_rate) ? Json("inf") : Json(info.request_rate);
  j["burstiness"] = info.burstiness;
  j["max_concurrency"] = info.max_concurrency ? Json(*info.max_concurrency) : Json(nullptr);
  j["duration"] = s.duration_s;
  j["completed"] = s.completed;
  j["failed"] = s.failed;
  j["total_input_tokens"] = s.total_input;
  j["total_output_tokens"] = s.total_output;
  j["request_throughput"] = s.request_throughput;
  j["request_goodput"] = info.goodput ? Json(s.request_goodput) : Json(nullptr);
  j["output_throughput"] = s.output_throughput;
  j["total_token_throughput"] = s.total_token_throughput;
  Json input_lens = Json::array(), ttfts = Json::array(), itls = Json::array(),
       errors = Json::array(), response_ids = Json::array();
  for (const RequestRecord& r : records) {
    input_lens.push_back(r.prompt_len);
    ttfts.push_back(r.success ? r.ttft : 0.0);
    itls.push_back(r.itl);
    errors.push_back(r.error);
    response_ids.push_back(r.response_id);
  }
  j["input_lens"] = std::move(input_lens);
  j["output_lens"] = s.output_lens;
  j["ttfts"] = std::move(ttfts);
  j["itls"] = std::move(itls);
  j["errors"] = std::move(errors);
  // Not in vLLM's result: pairs each request with the server's trace (fit).
  j["response_ids"] = std::move(response_ids);
  Json histograms = Json::object();
  for (const Section& section : kSections) {
    const Distribution& d = s.*(section.distribution);
    const std::string key = section.key;
    j["mean_" + key + "_ms"] = d.mean;
    j["median_" + key + "_ms"] = d.median;
    j["std_" + key + "_ms"] = d.std;
    for (const auto& [p, value] : d.percentiles)
      j["p" + percentile_key(p) + "_" + key + "_ms"] = value;
    // The /metrics bucket bounds, seconds, cumulative as Prometheus counts.
    const std::vector<double> bounds = metrics::bucket_bounds(section.buckets, 0);
    histograms[key + "_seconds"] = {
        {"le", bounds}, {"cumulative_counts", cumulative_buckets(s.*(section.samples), bounds)}};
  }
  j["histograms"] = std::move(histograms);
  return j;
}

}  // namespace waypoint::bench
