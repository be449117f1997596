#pragma once
// What `waypoint bench` prints and writes: vLLM's summary table and its
// result JSON (the same key names, so scripts written for vLLM's
// --save-result read ours).
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "perf/bench_metrics.hpp"

namespace waypoint::bench {

struct RunInfo {
  std::string model;
  std::string endpoint;
  std::string dataset;
  std::size_t num_prompts = 0;
  double request_rate = 0;  // +inf: all at once
  double burstiness = 1.0;
  std::optional<int64_t> max_concurrency;
  bool goodput = false;  // --goodput was given
  std::vector<double> percentiles;
};

std::string summary_table(const RunInfo& info, const Summary& summary);

nlohmann::json result_json(const RunInfo& info, const Summary& summary,
                           const std::vector<RequestRecord>& records);

}  // namespace waypoint::bench
