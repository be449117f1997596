#pragma once
// The `waypoint` command line: a subcommand name followed by that
// subcommand's own options, as `git` and `vllm` do.
#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "proto/result.hpp"

namespace waypoint::cli {

// Exit codes: 0 ok, 1 runtime failure, 2 bad command line (DESIGN.md §7).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

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

// Subcommands register here as their issues land (serve, generate, events, ...).
std::vector<Subcommand> subcommands();

int run(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err);

}  // namespace waypoint::cli
