#include "perf/bench_arrivals.hpp"

#include <cmath>
#include <string>

namespace waypoint::bench {

Result<void> validate(const ArrivalProcess& process) {
  if (!(process.request_rate > 0)) {
    return Error{"--request-rate must be positive (or inf), not " +
                 std::to_string(process.request_rate)};
  }
  if (!(process.burstiness > 0) || !std::isfinite(process.burstiness)) {
    return Error{"--burstiness must be a positive number, not " +
                 std::to_string(process.burstiness)};
  }
  return {};
}

std::vector<double> arrival_offsets(std::size_t count, const ArrivalProcess& process,
                                    std::mt19937_64& rng) {
  std::vector<double> offsets(count, 0.0);
  if (std::isinf(process.request_rate) || count == 0) return offsets;
  std::gamma_distribution<double> gap(process.burstiness,
                                      1.0 / (process.request_rate * process.burstiness));
  for (std::size_t i = 1; i < count; ++i) offsets[i] = offsets[i - 1] + gap(rng);
  return offsets;
}

}  // namespace waypoint::bench
