#include "base/command_line.hpp"

#include <ostream>
#include <sstream>

#include "base/subcommand.hpp"

namespace po = boost::program_options;

namespace waypoint::cli {

CommandLine::CommandLine(std::string name, std::string usage, std::string epilog)
    : name_(std::move(name)),
      usage_(std::move(usage)),
      epilog_(std::move(epilog)),
      options_("waypoint " + name_ + " options") {
  options_.add_options()("help,h", "print this help and exit");
}

CommandLine& CommandLine::positional(const char* name, int max_count) {
  positional_.add(name, max_count);
  return *this;
}

CommandLine& CommandLine::allow_unregistered() {
  allow_unregistered_ = true;
  return *this;
}

Result<CommandLine::Outcome> CommandLine::parse(const std::vector<std::string>& args) {
  try {
    po::command_line_parser parser(args);
    parser.options(options_);
    // Only a command that takes bare arguments says so: otherwise a stray one
    // is kept as unregistered (sim) or refused by name.
    if (positional_.max_total_count() > 0) parser.positional(positional_);
    if (allow_unregistered_) parser.allow_unregistered();
    const po::parsed_options parsed = parser.run();
    po::store(parsed, vm_);
    if (vm_.count("help")) return Outcome::kHelp;
    po::notify(vm_);
    for (const po::option& option : parsed.options) {
      if (option.unregistered) unregistered_.push_back(option);
    }
  } catch (const po::error& e) {
    return Error{e.what()};
  }
  return Outcome::kRun;
}

std::optional<int> CommandLine::parse_or_exit(const std::vector<std::string>& args,
                                              std::ostream& out, std::ostream& err) {
  auto outcome = parse(args);
  if (!outcome) return usage_error(err, outcome.error().message);
  if (*outcome == Outcome::kHelp) {
    out << help();
    return kExitOk;
  }
  return std::nullopt;
}

int CommandLine::usage_error(std::ostream& err, const std::string& message) const {
  err << "waypoint " << name_ << ": " << message << "\n";
  return kExitUsage;
}

std::string CommandLine::help() const {
  std::ostringstream text;
  text << usage_ << options_ << epilog_;
  return text.str();
}

}  // namespace waypoint::cli
