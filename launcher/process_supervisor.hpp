#pragma once
// The launcher's children: started by fork+exec of this same binary (a fresh
// process, no inherited threads; a test names the waypoint binary instead), each in its own process
// group so a Ctrl-C at the terminal reaches only the launcher, which then drains them in order.
// Each child asks the kernel to kill it if the launcher dies, so no child is
// ever orphaned. The destructor kills and reaps whatever is still running.
#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/result.hpp"

namespace waypoint {

class ProcessSupervisor {
 public:
  explicit ProcessSupervisor(std::string executable = "/proc/self/exe")
      : executable_(std::move(executable)) {}
  ~ProcessSupervisor();
  ProcessSupervisor(const ProcessSupervisor&) = delete;
  ProcessSupervisor& operator=(const ProcessSupervisor&) = delete;

  // Runs `executable args...` as the child called `name`.
  Result<pid_t> spawn(const std::string& name, const std::vector<std::string>& args);

  struct Exit {
    std::string name;
    pid_t pid = 0;
    int status = 0;                // as from waitpid
    std::string describe() const;  // "exited with code 1", "killed by signal 9 (SIGKILL)"
    bool clean() const;            // exit code 0
  };
  // One child that has exited, if any; never blocks.
  std::optional<Exit> reap();

  void signal(const std::string& name, int sig);
  void signal_all(int sig);
  bool running(const std::string& name) const;
  size_t num_running() const { return children_.size(); }
  std::vector<std::string> running_names() const;

 private:
  struct Child {
    std::string name;
    pid_t pid;
  };
  std::string executable_;
  std::vector<Child> children_;
};

}  // namespace waypoint
