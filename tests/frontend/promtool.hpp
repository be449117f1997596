#pragma once
// Runs the real `promtool check metrics` (Debian package prometheus) on an
// exposition. vLLM's metric names carry a colon ("vllm:..."), which promtool's
// linter always flags ("metric names should not contain ':'"; colons are
// meant for recording rules), and vLLM's own /metrics gets the same
// complaint; every other problem is a real one.
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "tests/worker/scratch_dir.hpp"

namespace waypoint::testing {

inline std::optional<std::string> promtool_path() {
  for (const char* candidate : {WAYPOINT_PROMTOOL, "/usr/bin/promtool"}) {
    const std::string path = candidate;
    if (!path.empty() && path.find("NOTFOUND") == std::string::npos && std::ifstream(path).good()) {
      return path;
    }
  }
  return std::nullopt;
}

struct PromtoolVerdict {
  int exit_code = -1;
  std::vector<std::string> problems;  // all but the colon complaint
  std::string output;                 // everything it said
};

inline PromtoolVerdict promtool_check(const std::string& promtool, const std::string& exposition) {
  ScratchDir dir;
  write_text(dir / "metrics.prom", exposition);
  const std::string command = promtool + " check metrics < " + (dir / "metrics.prom").string() +
                              " > " + (dir / "out.txt").string() + " 2>&1";
  PromtoolVerdict v;
  const int status = std::system(command.c_str());
  v.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream out(dir / "out.txt");
  std::string line;
  while (std::getline(out, line)) {
    v.output += line + "\n";
    if (line.empty() || line.find("metric names should not contain ':'") != std::string::npos) {
      continue;
    }
    v.problems.push_back(line);
  }
  return v;
}

// Passes: it parsed the exposition (exit 0, or 3 for lint problems) and
// found nothing but colons to complain about.
inline bool promtool_passes(const PromtoolVerdict& v) {
  return (v.exit_code == 0 || v.exit_code == 3) && v.problems.empty();
}

}  // namespace waypoint::testing
