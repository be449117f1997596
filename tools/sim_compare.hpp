#pragma once
// `waypoint sim --compare RESULT.json`: a prediction beside a measured
// `waypoint bench` run, figure by figure, with the relative error of each.
// Both sides are bench result JSONs, so the keys (and their definitions)
// are the same by construction.
#include <string>

#include <nlohmann/json.hpp>

namespace waypoint::sim {

struct Comparison {
  std::string table;     // what is printed
  nlohmann::json json;   // {key: {predicted, measured, error_percent}}, in --result-json
};

// Compares every latency and throughput figure present in both; the error is
// (predicted - measured) / measured in percent, null when measured is 0.
Comparison compare(const nlohmann::json& predicted, const nlohmann::json& measured);

}  // namespace waypoint::sim
