#pragma once
// The real `waypoint events`, recording a server's hub to a JSONL file for an
// end-to-end test, and the small waits such tests need.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/serve/test_server.hpp"
#include "tests/wait_for.hpp"

namespace waypoint::testing {

// `waypoint events` recording to a file, from the start of the hub's buffer
// (replay from seq 0, then live). `extra` adds flags, e.g. {"--topic", "step"}.
class EventsRecorder {
 public:
  EventsRecorder(const std::string& connect, const std::string& replay,
                 const std::filesystem::path& out, const std::filesystem::path& err,
                 const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args{kBinary,         "events",   "--connect",     connect,
                                  "--replay-endpoint", replay, "--replay-from", "0",
                                  "--format",      "jsonl",    "--output",      out.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      const int fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 2);
      std::vector<char*> argv;
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(kBinary.c_str(), argv.data());
      ::_exit(127);
    }
  }
  ~EventsRecorder() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  EventsRecorder(const EventsRecorder&) = delete;
  EventsRecorder& operator=(const EventsRecorder&) = delete;

  // SIGINT, as a user would stop it; its exit status.
  int stop() {
    ::kill(pid_, SIGINT);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
};

inline std::vector<nlohmann::json> read_jsonl(const std::filesystem::path& path) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded()) lines.push_back(std::move(j));
  }
  return lines;
}

}  // namespace waypoint::testing
