#include "tools/cli.hpp"

#include <algorithm>
#include <iostream>

#include <boost/program_options.hpp>

#include "tools/subcommands.hpp"

namespace po = boost::program_options;

namespace waypoint::cli {

namespace {

void print_usage(std::span<const Subcommand> commands, const po::options_description& global,
                 std::ostream& out) {
  out << "Waypoint " << WAYPOINT_VERSION
      << ": an LLM serving engine whose every request and step can be observed.\n\n"
         "Usage: waypoint [--help] [--version] <command> [<args>]\n\n"
         "Commands:\n";
  for (const auto& c : commands) {
    out << "  " << c.name << std::string(14 - std::min<size_t>(c.name.size(), 12), ' ') << c.summary
        << "\n";
  }
  out << "\nRun 'waypoint <command> --help' for a command's options.\n\n" << global;
}

}  // namespace

int run(std::span<const Subcommand> commands, const std::vector<std::string>& argv,
        std::ostream& out, std::ostream& err) {
  po::options_description global("Options");
  global.add_options()("help,h", "print this help and exit")("version",
                                                             "print the version and exit");

  // Global options come before the subcommand; everything after it belongs to it.
  auto first_positional = std::find_if(
      argv.begin(), argv.end(), [](const std::string& a) { return a.empty() || a[0] != '-'; });
  std::vector<std::string> global_args(argv.begin(), first_positional);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(global_args).options(global).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    err << "waypoint: " << e.what() << "\n";
    return kExitUsage;
  }
  if (vm.count("version")) {
    out << "waypoint " << WAYPOINT_VERSION << "\n";
    return kExitOk;
  }
  if (vm.count("help") || first_positional == argv.end()) {
    print_usage(commands, global, vm.count("help") ? out : err);
    return vm.count("help") ? kExitOk : kExitUsage;
  }

  const std::string& name = *first_positional;
  for (const auto& command : commands) {
    if (command.name == name) {
      return command.run(std::vector<std::string>(first_positional + 1, argv.end()), out, err);
    }
  }
  err << "waypoint: unknown command '" << name << "'; see 'waypoint --help'\n";
  return kExitUsage;
}

int run(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  const std::vector<Subcommand> all = subcommands();
  return run(all, argv, out, err);
}

}  // namespace waypoint::cli
