#include "launcher/process_supervisor.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace waypoint {

ProcessSupervisor::~ProcessSupervisor() {
  signal_all(SIGKILL);
  for (const Child& c : children_) {
    int status = 0;
    while (::waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

Result<pid_t> ProcessSupervisor::spawn(const std::string& name,
                                       const std::vector<std::string>& args) {
  std::vector<std::string> argv_storage;
  argv_storage.push_back("waypoint");
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);

  const char* executable = executable_.c_str();
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return Error{"cannot start " + name + ": fork: " + std::strerror(errno)};
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec.
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the launcher died before prctl
    // The child starts with default signal handling: handled signals reset at
    // exec by themselves, but the launcher's ignored SIGPIPE would carry over.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::execv(executable, argv.data());
    ::_exit(127);
  }
  children_.push_back({name, pid});
  return pid;
}

std::optional<ProcessSupervisor::Exit> ProcessSupervisor::reap() {
  for (auto it = children_.begin(); it != children_.end(); ++it) {
    int status = 0;
    const pid_t r = ::waitpid(it->pid, &status, WNOHANG);
    if (r == it->pid) {
      Exit e{it->name, it->pid, status};
      children_.erase(it);
      return e;
    }
  }
  return std::nullopt;
}

void ProcessSupervisor::signal(const std::string& name, int sig) {
  for (const Child& c : children_) {
    if (c.name == name) ::kill(c.pid, sig);
  }
}

void ProcessSupervisor::signal_all(int sig) {
  for (const Child& c : children_) ::kill(c.pid, sig);
}

bool ProcessSupervisor::running(const std::string& name) const {
  return std::any_of(children_.begin(), children_.end(),
                     [&](const Child& c) { return c.name == name; });
}

std::vector<std::string> ProcessSupervisor::running_names() const {
  std::vector<std::string> names;
  for (const Child& c : children_) names.push_back(c.name);
  return names;
}

std::string ProcessSupervisor::Exit::describe() const {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* abbrev = sigabbrev_np(sig);
    return "killed by signal " + std::to_string(sig) +
           (abbrev ? std::string(" (SIG") + abbrev + ")" : std::string());
  }
  return "stopped (status " + std::to_string(status) + ")";
}

bool ProcessSupervisor::Exit::clean() const {
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace waypoint
