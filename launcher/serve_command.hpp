#pragma once
#include "base/subcommand.hpp"

namespace waypoint::cli {

// `waypoint serve`: the launcher. It checks the device and the model, plans
// the processes (serve_plan.hpp), starts the frontend(s), the engine core and
// one worker per tensor-parallel rank, brings them up through the control
// handshake (bring_up.hpp), supervises them and drains them on SIGINT/SIGTERM
// (supervision.hpp).
Subcommand serve_subcommand();

}  // namespace waypoint::cli
