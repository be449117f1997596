#pragma once
// Running one model across tensor-parallel ranks on CPU: rank 0 drives the
// steps (TpLeaderExecutor) and the other ranks follow (run_tp_follower).
#include "base/result.hpp"
#include "proto/executor.hpp"
#include "worker/cpu_model_runner.hpp"
#include "worker/shm_tp_group.hpp"

namespace waypoint {

// Rank 0: sends each step to the followers, then runs its own shard; only
// rank 0's runner samples.
class TpLeaderExecutor final : public Executor {
 public:
  TpLeaderExecutor(ShmTpRank& rank, CpuModelRunner& runner) : rank_(rank), runner_(runner) {}
  ModelRunnerOutput execute_model(const SchedulerOutput& step) override;
  // Tells the followers to return from run_tp_follower.
  void shutdown();

 private:
  ShmTpRank& rank_;
  CpuModelRunner& runner_;
  std::string message_;
};

// Runs steps broadcast by rank 0 until it shuts down. On failure it aborts the
// group, so rank 0 stops waiting, and returns the reason.
Result<void> run_tp_follower(ShmTpRank& rank, CpuModelRunner& runner);

}  // namespace waypoint
