#include "perf/progress_bar.hpp"

#include <unistd.h>

#include <iostream>
#include <sstream>

namespace waypoint::cli {

ProgressBar::ProgressBar(std::ostream& err, std::string tool, std::size_t total, bool tty)
    : err_(err), tool_(std::move(tool)), total_(total), tty_(tty) {}

bool ProgressBar::is_terminal(const std::ostream& err) {
  return &err == &std::cerr && ::isatty(STDERR_FILENO) == 1;
}

void ProgressBar::update(std::size_t done, std::size_t failed) {
  if (!tty_) return;
  const auto now = std::chrono::steady_clock::now();
  if (done != total_ && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  constexpr std::size_t kWidth = 40;
  const std::size_t filled = total_ == 0 ? kWidth : done * kWidth / total_;
  err_ << "\r[" << std::string(filled, '#') << std::string(kWidth - filled, ' ') << "] " << done
       << "/" << total_ << (failed ? " (" + std::to_string(failed) + " failed)" : "") << std::flush;
}

void ProgressBar::finish(std::size_t done, std::size_t failed, double seconds) {
  if (tty_) err_ << "\n";
  std::ostringstream line;
  line.precision(2);
  line << std::fixed << tool_ << ": " << done << "/" << total_ << " requests done, " << failed
       << " failed, in " << seconds << " s\n";
  err_ << line.str() << std::flush;
}

}  // namespace waypoint::cli
