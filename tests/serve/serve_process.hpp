#pragma once
// A real `waypoint serve` for integration tests: started on an ephemeral
// port, its log captured, and always reaped, along with every child it
// reported starting, however the test ends.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace waypoint::testing {

inline bool process_exists(pid_t pid) { return ::kill(pid, 0) == 0 || errno != ESRCH; }

class ServeProcess {
 public:
  // env: extra NAME=VALUE settings for the server.
  ServeProcess(const std::string& binary, std::vector<std::string> args,
               std::vector<std::pair<std::string, std::string>> env = {}) {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe");
    // Ephemeral ports for the event hub too, so servers in parallel tests
    // never collide; event_endpoint() reads back what was bound.
    std::vector<std::string> argv_storage{binary,
                                          "serve",
                                          "--port",
                                          "0",
                                          "--event-endpoint",
                                          "tcp://127.0.0.1:*",
                                          "--event-replay-endpoint",
                                          "tcp://127.0.0.1:*"};
    // The CPU server unless a test asks for a device: on a GPU machine --device auto
    // would put every test's server on the GPU, each sizing its KV pool to 90% of
    // the device, and servers of parallel tests would crowd each other out.
    if (std::find(args.begin(), args.end(), "--device") == args.end()) {
      argv_storage.insert(argv_storage.end(), {"--device", "cpu"});
    }
    argv_storage.insert(argv_storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_storage) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
      ::dup2(fds[1], 1);
      ::dup2(fds[1], 2);
      ::close(fds[0]);
      ::close(fds[1]);
      ::execv(binary.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    reader_ = std::thread([this, fd = fds[0]] {
      char buf[4096];
      ssize_t n;
      while ((n = ::read(fd, buf, sizeof buf)) > 0) {
        std::lock_guard lock(mutex_);
        log_.append(buf, static_cast<size_t>(n));
      }
      ::close(fd);
    });
  }

  ~ServeProcess() {
    if (!status_) {
      // Two signals: the first drains, the second kills the children at once,
      // and the launcher then removes its run directory and shared memory.
      // Only a launcher that does not go in time is killed outright (which
      // leaves those files behind).
      ::kill(pid_, SIGTERM);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      ::kill(pid_, SIGTERM);
      if (!wait_exit(std::chrono::seconds(5))) {
        ::kill(pid_, SIGKILL);
        int st = 0;
        ::waitpid(pid_, &st, 0);
      }
    }
    for (const auto& [name, pid] : children()) {
      if (process_exists(pid)) ::kill(pid, SIGKILL);
    }
    if (reader_.joinable()) reader_.join();
  }
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  // The port from "serving MODEL on http://HOST:PORT", once every process is up.
  std::optional<uint16_t> wait_until_serving(
      std::chrono::seconds timeout = std::chrono::seconds(60)) {
    static const std::regex serving(R"(serve: serving \S+ on http://[0-9.]+:([0-9]+))");
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      std::smatch m;
      const std::string text = log();
      if (std::regex_search(text, m, serving)) return static_cast<uint16_t>(std::stoi(m[1]));
      if (wait_exit(std::chrono::milliseconds(50))) return std::nullopt;
    }
    return std::nullopt;
  }

  // Children as the launcher announced them: "started NAME (pid N)".
  std::map<std::string, pid_t> children() const {
    static const std::regex started(R"(started (\S+) \(pid ([0-9]+)\))");
    std::map<std::string, pid_t> out;
    const std::string text = log();
    for (auto it = std::sregex_iterator(text.begin(), text.end(), started);
         it != std::sregex_iterator(); ++it) {
      out[(*it)[1]] = static_cast<pid_t>(std::stoi((*it)[2]));
    }
    return out;
  }

  // The exit status, once it has exited within `timeout`.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
    if (status_) return status_;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    do {
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        status_ = st;
        if (reader_.joinable()) reader_.join();
        return status_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    } while (std::chrono::steady_clock::now() < deadline);
    return std::nullopt;
  }

  void signal(int sig) { ::kill(pid_, sig); }
  pid_t pid() const { return pid_; }
  // The hub's XPUB and replay endpoints from "event hub on URL (replay URL)".
  std::optional<std::pair<std::string, std::string>> event_endpoints() const {
    static const std::regex hub(R"(event hub on (\S+) \(replay (\S+)\))");
    std::smatch m;
    const std::string text = log();
    if (!std::regex_search(text, m, hub)) return std::nullopt;
    return std::pair{m[1].str(), m[2].str()};
  }

  std::string log() const {
    std::lock_guard lock(mutex_);
    return log_;
  }

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  mutable std::mutex mutex_;
  std::string log_;
  std::thread reader_;
};

}  // namespace waypoint::testing
