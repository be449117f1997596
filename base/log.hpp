#pragma once
// One line per event, with a time, a level and the process that wrote it:
//   2026-11-23T10:15:02.123Z INFO  engine-0: ready, 2 workers
// Each line goes out in a single write(2), so lines from the launcher and its
// children never interleave mid-line on a shared stderr.
#include <string>
#include <string_view>

namespace waypoint {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

class Logger {
 public:
  explicit Logger(std::string process, LogLevel min_level = LogLevel::kInfo)
      : process_(std::move(process)), min_level_(min_level) {}

  void debug(std::string_view message) const { write(LogLevel::kDebug, message); }
  void info(std::string_view message) const { write(LogLevel::kInfo, message); }
  void warn(std::string_view message) const { write(LogLevel::kWarn, message); }
  void error(std::string_view message) const { write(LogLevel::kError, message); }
  void write(LogLevel level, std::string_view message) const;

  const std::string& process() const { return process_; }

 private:
  std::string process_;
  LogLevel min_level_;
};

}  // namespace waypoint
