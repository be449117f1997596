#pragma once
// A `waypoint serve` worker rank on a CUDA device, from CONFIG to READY: it takes
// device `rank`, joins the NCCL communicator (rank 0 makes the id, the launcher
// relays it), loads and uploads its weight shard, and sizes the KV pool with the
// launcher: it profiles a step, reports the blocks its memory holds under
// --gpu-memory-utilization, and allocates the count the launcher answers, the
// least any rank holds. With a block count in its config it skips the exchange.
#include <functional>

#include "base/log.hpp"
#include "base/result.hpp"
#include "proto/control_channel.hpp"
#include "worker/worker_process.hpp"
#include "worker/worker_rank.hpp"

namespace waypoint {

Result<WorkerRank> load_cuda_rank(const WorkerProcessConfig& config, control::Channel& control,
                                  const std::function<bool()>& launcher_alive, const Logger& log);

}  // namespace waypoint
