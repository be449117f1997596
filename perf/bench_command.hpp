#pragma once
// `waypoint bench`: drives a running server's OpenAI API with an open-loop
// workload and reports what vLLM's benchmark_serving reports (docs/bench.md).
#include "base/subcommand.hpp"

namespace waypoint::cli {

Subcommand bench_subcommand();

}  // namespace waypoint::cli
