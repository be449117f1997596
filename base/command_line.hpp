#pragma once
// One subcommand's command line, on Boost.Program_options, with what every
// subcommand shares: --help prints the usage text, the options and an epilog,
// and exits 0; a bad flag is one line, "waypoint NAME: what is wrong", with
// exit code 2.
//
//   CommandLine cl("bench", "Usage: waypoint bench [options]\n\n");
//   cl.options().add_options()("base-url", po::value(&url), "the server");
//   if (auto exit = cl.parse_or_exit(args, out, err)) return *exit;
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "base/result.hpp"

namespace waypoint::cli {

class CommandLine {
 public:
  CommandLine(std::string name, std::string usage, std::string epilog = {});

  // The command's own options; --help (-h) comes first by itself.
  boost::program_options::options_description& options() { return options_; }
  // Bare arguments fill the option `name` (at most `max_count` of them; -1: any).
  CommandLine& positional(const char* name, int max_count);
  // Options the command does not declare are kept (unregistered()) instead of
  // refused; the command checks them itself.
  CommandLine& allow_unregistered();

  enum class Outcome { kRun, kHelp };
  // kHelp when --help was given (print help()), or an Error naming the bad flag.
  Result<Outcome> parse(const std::vector<std::string>& args);
  // The same, printed: nullopt to run, else the exit code (0 after --help, 2
  // after an error).
  std::optional<int> parse_or_exit(const std::vector<std::string>& args, std::ostream& out,
                                   std::ostream& err);
  // A usage error found after parsing: printed as one line; returns 2.
  int usage_error(std::ostream& err, const std::string& message) const;

  const boost::program_options::variables_map& vm() const { return vm_; }
  bool given(const char* option) const { return vm_.count(option) > 0; }
  const std::vector<boost::program_options::option>& unregistered() const { return unregistered_; }
  std::string help() const;

 private:
  std::string name_;
  std::string usage_;
  std::string epilog_;
  boost::program_options::options_description options_;
  boost::program_options::positional_options_description positional_;
  bool allow_unregistered_ = false;
  boost::program_options::variables_map vm_;
  std::vector<boost::program_options::option> unregistered_;
};

}  // namespace waypoint::cli
