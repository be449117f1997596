#pragma once
// The `waypoint` command line: global flags, then a subcommand name followed
// by that subcommand's own options, as `git` and `vllm` do.
#include <iosfwd>
#include <span>
#include <string>
#include <vector>

#include "base/subcommand.hpp"

namespace waypoint::cli {

// Dispatches argv (without the program name) to one of `commands`.
int run(std::span<const Subcommand> commands, const std::vector<std::string>& argv,
        std::ostream& out, std::ostream& err);

// The same, over every subcommand of the binary (tools/subcommands.hpp).
int run(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err);

}  // namespace waypoint::cli
