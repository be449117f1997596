#pragma once
// One step of the engine core: schedule, execute on the workers, apply the
// result. The offline `waypoint generate`, the server's step loop and tests
// all step the engine through here.
#include "engine_core/scheduler.hpp"
#include "proto/executor.hpp"

namespace waypoint {

// Returns the step's outputs by client, valid until the scheduler's next
// update (see Scheduler::update_from_output).
StepOutputs& engine_step(Scheduler& scheduler, Executor& executor);

}  // namespace waypoint
