#pragma once
#include "base/subcommand.hpp"

namespace waypoint::cli {

// The processes a launcher starts, as subcommands of the same binary:
// `waypoint <role> --control ENDPOINT --name NAME`. Not for people to run:
// each connects back to its launcher for its configuration.
Subcommand engine_core_subcommand();
Subcommand worker_subcommand();
Subcommand frontend_subcommand();

}  // namespace waypoint::cli
