#include "base/signal_watch.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace waypoint {

namespace {

// The write end of the live SignalWatch's pipe: all a signal handler may
// reach, hence the one piece of process-wide state here.
std::atomic<int> signal_pipe_write{-1};

void on_signal(int signal) {
  const int saved_errno = errno;
  if (const int fd = signal_pipe_write.load(); fd >= 0) {
    const auto byte = static_cast<unsigned char>(signal);
    const ssize_t written = ::write(fd, &byte, 1);
    (void)written;  // a full pipe already says "a signal came"
  }
  errno = saved_errno;
}

}  // namespace

SignalWatch::SignalWatch(std::initializer_list<int> signals, bool ignore_sigpipe) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    throw std::runtime_error(std::string("cannot watch signals: pipe: ") + std::strerror(errno));
  }
  read_.reset(fds[0]);
  write_.reset(fds[1]);
  signal_pipe_write.store(write_.get());
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (const int s : signals) {
    Saved saved{s, {}};
    ::sigaction(s, &action, &saved.action);
    saved_.push_back(saved);
  }
  if (ignore_sigpipe) {
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    Saved saved{SIGPIPE, {}};
    ::sigaction(SIGPIPE, &ignore, &saved.action);
    saved_.push_back(saved);
  }
}

SignalWatch::~SignalWatch() {
  for (const Saved& s : saved_) ::sigaction(s.signal, &s.action, nullptr);
  signal_pipe_write.store(-1);
}

std::optional<int> SignalWatch::take() {
  unsigned char byte = 0;
  if (::read(read_.get(), &byte, 1) != 1) return std::nullopt;
  return static_cast<int>(byte);
}

}  // namespace waypoint
