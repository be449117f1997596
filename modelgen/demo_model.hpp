#pragma once
// The built-in demo model: make-model's tiny preset, written once into the
// user's cache and reused by every command that runs without --model
// (serve, sim).
#include <string>

#include "base/log.hpp"
#include "base/result.hpp"

namespace waypoint::cli {

// $XDG_CACHE_HOME/waypoint, else ~/.cache/waypoint, else a temp folder.
std::string default_cache_dir();

// The demo model's directory, written first if it is missing.
Result<std::string> demo_model(const Logger& log);

}  // namespace waypoint::cli
