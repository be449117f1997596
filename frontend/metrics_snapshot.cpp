#include "frontend/metrics_snapshot.hpp"

#include <algorithm>
#include <numeric>

namespace waypoint {

void HistogramCounts::observe(const std::vector<double>& bounds, double value) {
  if (counts.size() != bounds.size() + 1) counts.assign(bounds.size() + 1, 0);
  const auto at = std::lower_bound(bounds.begin(), bounds.end(), value);
  ++counts[static_cast<size_t>(at - bounds.begin())];
  sum += value;
}

uint64_t HistogramCounts::count() const {
  return std::accumulate(counts.begin(), counts.end(), uint64_t{0});
}

bool HistogramCounts::add(const HistogramCounts& other) {
  if (other.counts.size() != counts.size()) return false;
  for (size_t i = 0; i < counts.size(); ++i) counts[i] += other.counts[i];
  sum += other.sum;
  return true;
}

bool RequestMetricsSnapshot::add(const RequestMetricsSnapshot& other) {
  if (other.success.size() != success.size() || other.histograms.size() != histograms.size()) {
    return false;
  }
  for (size_t i = 0; i < histograms.size(); ++i) {
    if (other.histograms[i].counts.size() != histograms[i].counts.size()) return false;
  }
  prompt_tokens += other.prompt_tokens;
  generation_tokens += other.generation_tokens;
  for (size_t i = 0; i < success.size(); ++i) success[i] += other.success[i];
  for (size_t i = 0; i < histograms.size(); ++i) histograms[i].add(other.histograms[i]);
  return true;
}

const std::optional<SchedulerStats>& fresher(const std::optional<SchedulerStats>& a,
                                             const std::optional<SchedulerStats>& b) {
  if (!a) return b;
  if (!b) return a;
  return b->scheduler_step > a->scheduler_step ? b : a;
}

}  // namespace waypoint
