#pragma once
// `waypoint sim --compare RESULT.json ...`: a prediction beside measured
// `waypoint bench` runs, figure by figure, with the relative error of each.
// Both sides are bench result JSONs, so the keys (and their definitions)
// are the same by construction. Several runs of one workload are averaged,
// and their spread shown: on a shared machine one measurement is itself
// off by several percent, and the spread says how far to trust the error.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace waypoint::sim {

struct Comparison {
  std::string table;    // what is printed
  nlohmann::json json;  // {key: {predicted, measured, measured_min, measured_max, error_percent}}
};

// Compares every latency and throughput figure present in the prediction
// and in every measured run. measured is the runs' mean; the error is
// (predicted - measured) / measured in percent, null when measured is 0.
Comparison compare(const nlohmann::json& predicted, const std::vector<nlohmann::json>& measured);

}  // namespace waypoint::sim
