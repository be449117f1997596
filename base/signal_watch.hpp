#pragma once
// Signals as a readable descriptor, polled with a program's sockets, so that
// a signal is handled between two whole pieces of work in the main loop.
//
// A handler that writes the signal's number into a pipe (the self-pipe
// trick), not a signalfd: a signalfd needs the signals blocked in every
// thread, and threads started before main (OpenBLAS starts its own when the
// binary loads) do not block them, so one of those threads would take the
// signal's default action and kill the process mid-step.
//
// One SignalWatch at a time per process: the handler can reach only one pipe.
#include <initializer_list>
#include <optional>
#include <vector>

#include <signal.h>

#include "base/unique_fd.hpp"

namespace waypoint {

class SignalWatch {
 public:
  // Watches `signals` until destroyed, then restores their old handlers. With
  // `ignore_sigpipe`, a write to a closed pipe or socket returns EPIPE instead
  // of killing the process (children started meanwhile should restore SIGPIPE:
  // an ignored signal stays ignored across exec). Throws std::runtime_error
  // when no pipe can be made.
  explicit SignalWatch(std::initializer_list<int> signals, bool ignore_sigpipe = false);
  ~SignalWatch();
  SignalWatch(const SignalWatch&) = delete;
  SignalWatch& operator=(const SignalWatch&) = delete;

  // Readable while a signal is waiting to be taken.
  int fd() const { return read_.get(); }
  // The next signal received, if any; never blocks.
  std::optional<int> take();

 private:
  struct Saved {
    int signal;
    struct sigaction action;
  };
  UniqueFd read_;
  UniqueFd write_;
  std::vector<Saved> saved_;
};

}  // namespace waypoint
