#pragma once
// `waypoint sim`: predicts what `waypoint bench` would measure for a
// workload, by running the real scheduler on a virtual clock with the
// performance model `waypoint fit` wrote (docs/perf-model.md).
#include "base/subcommand.hpp"

namespace waypoint::cli {

Subcommand sim_subcommand();

}  // namespace waypoint::cli
