#pragma once
// Every subcommand of the `waypoint` binary, from the components that own them.
#include <vector>

#include "base/subcommand.hpp"

namespace waypoint::cli {

// Alphabetical, as `waypoint --help` lists them.
std::vector<Subcommand> subcommands();

}  // namespace waypoint::cli
