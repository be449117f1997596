#pragma once
#include "base/subcommand.hpp"

namespace waypoint::cli {

// `waypoint serve`: the launcher. It starts the frontend(s), the engine core
// and one worker per tensor-parallel rank as separate processes, brings them
// up through the control handshake, supervises them, and drains them on
// SIGINT/SIGTERM.
Subcommand serve_subcommand();

// The processes serve starts, as subcommands of the same binary. Not for
// people to run: each connects back to its launcher for its configuration.
Subcommand engine_core_subcommand();
Subcommand worker_subcommand();
Subcommand frontend_subcommand();

}  // namespace waypoint::cli
