#include "engine_core/engine_step.hpp"

namespace waypoint {

StepOutputs& engine_step(Scheduler& scheduler, Executor& executor) {
  const SchedulerOutput& step = scheduler.schedule();
  const ModelRunnerOutput result = executor.execute_model(step);
  return scheduler.update_from_output(step, result);
}

}  // namespace waypoint
