#pragma once
// Starts the follower ranks of a CPU tensor-parallel group as forked
// processes, and reaps them. Used by the offline `waypoint generate`; the
// server's launcher supervises its workers itself.
#include <sys/types.h>

#include <memory>
#include <vector>

#include "base/result.hpp"
#include "worker/cpu_model_runner.hpp"
#include "worker/shm_tp_group.hpp"
#include "worker/weight_store.hpp"

namespace waypoint {

struct TpRanks {
  std::unique_ptr<ShmTpRank> leader;  // rank 0, in this process
  // Ranks 1.., in child processes; shared with the leader's liveness check,
  // which reaps a follower that dies.
  std::shared_ptr<std::vector<pid_t>> followers = std::make_shared<std::vector<pid_t>>();

  TpRanks() = default;
  TpRanks(TpRanks&&) = default;
  TpRanks& operator=(TpRanks&&) = default;
  // Kills and reaps any follower still running, so none outlives its parent.
  ~TpRanks();

  // Waits for every follower; an error names a rank that failed.
  Result<void> join();
};

// Forks ranks 1..world_size-1. Each loads its own weight shard from `store`
// and follows rank 0's steps. max_floats bounds one all-reduce.
Result<TpRanks> start_follower_ranks(int world_size, const ModelConfig& config,
                                     const WeightStore& store, const CpuModelRunnerConfig& runner,
                                     int64_t max_floats);

}  // namespace waypoint
