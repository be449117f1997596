#pragma once
// One `waypoint` subcommand, and the exit codes every subcommand uses. Each
// component that owns a command (launcher, perf, modelgen, tools) returns one
// of these; tools/subcommands.cpp lists them and tools/cli.cpp dispatches.
#include <functional>
#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

#include "base/result.hpp"

namespace waypoint::cli {

// Exit codes: 0 ok, 1 runtime failure, 2 bad command line (docs/architecture.md,
// "Command line"), 130 stopped by SIGINT or SIGTERM, as a shell reports it.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitInterrupted = 130;

struct Subcommand {
  std::string name;
  std::string summary;
  // Receives the arguments after the subcommand name.
  std::function<int(const std::vector<std::string>& args, std::ostream& out, std::ostream& err)>
      run;
};

// A failure after a subcommand's command line was accepted: the subcommand
// catches it at its edge, prints the message as one line and exits 1.
struct RunError {
  std::string message;
};

// The value, or the error thrown as a RunError.
template <class T>
T must(Result<T> r) {
  if (!r) throw RunError{r.error().message};
  return std::move(*r);
}

}  // namespace waypoint::cli
