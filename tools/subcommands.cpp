#include "tools/subcommands.hpp"

#include "launcher/child_commands.hpp"
#include "launcher/serve_command.hpp"
#include "modelgen/make_model_command.hpp"
#include "perf/bench_command.hpp"
#include "perf/fit_command.hpp"
#include "perf/sim_command.hpp"
#include "tools/events_command.hpp"
#include "tools/generate_command.hpp"

namespace waypoint::cli {

std::vector<Subcommand> subcommands() {
  return {
      bench_subcommand(),    engine_core_subcommand(), events_subcommand(),     fit_subcommand(),
      frontend_subcommand(), generate_subcommand(),    make_model_subcommand(), serve_subcommand(),
      sim_subcommand(),      worker_subcommand(),
  };
}

}  // namespace waypoint::cli
