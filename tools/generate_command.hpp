#pragma once
#include "base/subcommand.hpp"

namespace waypoint::cli {

// `waypoint generate`: the whole engine in one process, for one prompt, the way
// llama.cpp's CLI runs a model. Scheduler, KV cache and model runner are the
// same code the server uses.
Subcommand generate_subcommand();

}  // namespace waypoint::cli
