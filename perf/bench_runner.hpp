#pragma once
// Runs an open-loop benchmark: each request is sent at its arrival offset,
// whatever the others are doing; with a concurrency cap, an arrival waits
// for a free slot first (vLLM's semaphore), in arrival order. One thread per
// request in flight.
#include <cstddef>
#include <functional>
#include <optional>
#include <vector>

#include "perf/bench_dataset.hpp"
#include "perf/bench_metrics.hpp"

namespace waypoint::bench {

using SendRequest = std::function<RequestRecord(const BenchRequest&)>;
// Called, one call at a time, after each request ends.
using OnProgress = std::function<void(std::size_t done, std::size_t failed)>;

struct RunOutcome {
  std::vector<RequestRecord> records;  // in the requests' order
  double duration_s = 0;               // first send to last reply
};

RunOutcome run_open_loop(const std::vector<BenchRequest>& requests,
                         const std::vector<double>& offsets,
                         std::optional<std::size_t> max_concurrency, const SendRequest& send,
                         const OnProgress& on_progress);

}  // namespace waypoint::bench
