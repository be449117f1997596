#include "launcher/child_commands.hpp"

#include <ostream>

#include "base/command_line.hpp"
#include "engine_core/engine_core_process.hpp"
#include "frontend/frontend_process.hpp"
#include "worker/worker_process.hpp"

namespace po = boost::program_options;

namespace waypoint::cli {

namespace {

Subcommand child_subcommand(const std::string& name, const std::string& summary,
                            int (*run)(const std::string&, const std::string&)) {
  return {name, summary,
          [name, run](const std::vector<std::string>& args, std::ostream& out,
                      std::ostream& err) -> int {
            std::string control_endpoint, process_name;
            CommandLine command_line(name, "Usage: waypoint " + name +
                                               " --control ENDPOINT --name NAME\n"
                                               "(started by `waypoint serve`)\n\n");
            command_line.options().add_options()("control",
                                                 po::value(&control_endpoint)->required(),
                                                 "the launcher's control endpoint")(
                "name", po::value(&process_name)->required(), "this process's name");
            if (auto exit = command_line.parse_or_exit(args, out, err)) return *exit;
            return run(control_endpoint, process_name);
          }};
}

}  // namespace

Subcommand engine_core_subcommand() {
  return child_subcommand("engine-core", "(started by serve) the scheduler process",
                          run_engine_core_process);
}
Subcommand worker_subcommand() {
  return child_subcommand("worker", "(started by serve) one tensor-parallel rank",
                          run_worker_process);
}
Subcommand frontend_subcommand() {
  return child_subcommand("frontend", "(started by serve) one HTTP frontend", run_frontend_process);
}

}  // namespace waypoint::cli
