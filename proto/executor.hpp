#pragma once
// The scheduler's only way to the model, and so the contract between the
// engine core and the workers. The engine core drives workers over
// sockets through it; tests and the simulator plug in executors that return
// tokens without running a model.
#include "proto/model_runner_output.hpp"
#include "proto/scheduler_output.hpp"

namespace waypoint {

class Executor {
 public:
  virtual ~Executor() = default;
  // Runs one step and returns once its tokens are sampled.
  virtual ModelRunnerOutput execute_model(const SchedulerOutput& step) = 0;
};

}  // namespace waypoint
