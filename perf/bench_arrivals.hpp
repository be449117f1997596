#pragma once
// When each request of an open-loop benchmark is sent. vLLM's get_request:
// the first request at once, then gaps drawn from a gamma distribution with
// shape = burstiness and scale = 1 / (rate * burstiness), so the mean rate
// is `rate` whatever the burstiness; burstiness 1 is a Poisson process,
// below 1 burstier, above 1 more regular. An infinite rate sends all at once.
#include <cstddef>
#include <random>
#include <vector>

#include "base/result.hpp"

namespace waypoint::bench {

struct ArrivalProcess {
  double request_rate;  // requests per second; +inf: all at once
  double burstiness = 1.0;
};

Result<void> validate(const ArrivalProcess& process);

// Offsets in seconds from the start, non-decreasing, the first 0.
std::vector<double> arrival_offsets(std::size_t count, const ArrivalProcess& process,
                                    std::mt19937_64& rng);

}  // namespace waypoint::bench
