#pragma once
// The progress of a long command (bench, sim): an in-place bar on a
// terminal; elsewhere only the final line, so logs and pipes are not filled
// with carriage returns.
#include <chrono>
#include <cstddef>
#include <iosfwd>
#include <string>

namespace waypoint::cli {

class ProgressBar {
 public:
  // `tool` starts the final line ("waypoint bench: 10/10 requests done...").
  ProgressBar(std::ostream& err, std::string tool, std::size_t total, bool tty);

  void update(std::size_t done, std::size_t failed);
  void finish(std::size_t done, std::size_t failed, double seconds);

  // Whether `err` is std::cerr on a terminal.
  static bool is_terminal(const std::ostream& err);

 private:
  std::ostream& err_;
  std::string tool_;
  std::size_t total_;
  bool tty_;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace waypoint::cli
