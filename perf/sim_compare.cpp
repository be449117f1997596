#include "perf/sim_compare.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>
#include <vector>

namespace waypoint::sim {

namespace {

// The headline figures, in the order bench prints them; percentiles beyond
// these are added from the predicted side's keys.
std::vector<std::pair<std::string, std::string>> figures(const nlohmann::json& predicted) {
  std::vector<std::pair<std::string, std::string>> rows = {
      {"duration", "Duration (s)"},
      {"request_throughput", "Request throughput (req/s)"},
      {"output_throughput", "Output token throughput (tok/s)"},
      {"total_token_throughput", "Total token throughput (tok/s)"},
  };
  const std::vector<std::pair<std::string, std::string>> metrics = {
      {"ttft", "TTFT"}, {"tpot", "TPOT"}, {"itl", "ITL"}, {"e2el", "E2EL"}};
  for (const auto& [key, name] : metrics) {
    rows.push_back({"mean_" + key + "_ms", "Mean " + name + " (ms)"});
    rows.push_back({"median_" + key + "_ms", "Median " + name + " (ms)"});
    for (const auto& [k, v] : predicted.items()) {
      const std::string suffix = "_" + key + "_ms";
      if (k.rfind("p", 0) == 0 && k.size() > suffix.size() &&
          k.compare(k.size() - suffix.size(), suffix.size(), suffix) == 0) {
        const std::string p = k.substr(1, k.size() - 1 - suffix.size());
        rows.push_back({k, "P" + p + " " + name + " (ms)"});
      }
    }
  }
  return rows;
}

}  // namespace

Comparison compare(const nlohmann::json& predicted, const std::vector<nlohmann::json>& measured) {
  Comparison c;
  c.json = nlohmann::json::object();
  const bool spread = measured.size() > 1;
  char line[200];
  std::snprintf(line, sizeof line, "%-34s %12s %12s %9s%s\n", "", "predicted",
                spread ? ("mean of " + std::to_string(measured.size())).c_str() : "measured",
                "error", spread ? "    spread" : "");
  const std::size_t width = spread ? 80 : 70;
  c.table = std::string(width, '=') + "\n" + line;
  for (const auto& [key, name] : figures(predicted)) {
    if (!predicted.contains(key) || !predicted[key].is_number() || measured.empty()) continue;
    double sum = 0;
    double lo = 0;
    double hi = 0;
    bool everywhere = true;
    for (std::size_t i = 0; i < measured.size(); ++i) {
      const nlohmann::json& m = measured[i];
      if (!m.contains(key) || !m[key].is_number()) {
        everywhere = false;
        break;
      }
      const double v = m[key].get<double>();
      sum += v;
      lo = i == 0 ? v : std::min(lo, v);
      hi = i == 0 ? v : std::max(hi, v);
    }
    if (!everywhere) continue;
    const double p = predicted[key].get<double>();
    const double m = sum / static_cast<double>(measured.size());
    nlohmann::json row = {{"predicted", p},
                          {"measured", m},
                          {"measured_min", lo},
                          {"measured_max", hi},
                          {"error_percent", nullptr}};
    std::string error = "-";
    std::string half_range;
    if (m != 0 && std::isfinite(m) && std::isfinite(p)) {
      const double e = (p - m) / std::abs(m) * 100.0;
      row["error_percent"] = e;
      char buf[32];
      std::snprintf(buf, sizeof buf, "%+.1f%%", e);
      error = buf;
      std::snprintf(buf, sizeof buf, "    +-%.1f%%", (hi - lo) / 2 / std::abs(m) * 100.0);
      half_range = buf;
    }
    std::snprintf(line, sizeof line, "%-34s %12.2f %12.2f %9s%s\n", name.c_str(), p, m,
                  error.c_str(), spread ? half_range.c_str() : "");
    c.table += line;
    c.json[key] = row;
  }
  c.table += std::string(width, '=') + "\n";
  return c;
}

}  // namespace waypoint::sim
