#pragma once
// A worker rank on the CPU, from its configuration: its shard of the weights,
// its place in the shared-memory tensor-parallel group above one rank, and
// its model runner. A `waypoint worker` process loads itself this way, and so
// does rank 0 of the offline engine (launcher/offline_engine.hpp), which runs
// in the calling process: one way to build a CPU rank, wherever it runs.
#include <functional>

#include "base/result.hpp"
#include "worker/worker_process.hpp"
#include "worker/worker_rank.hpp"

namespace waypoint {

// `peers_alive` is polled while the rank waits for the others at an
// all-reduce; returning false ends the wait with an error.
Result<WorkerRank> load_cpu_rank(const WorkerProcessConfig& config,
                                 const std::function<bool()>& peers_alive);

}  // namespace waypoint
