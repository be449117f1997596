#pragma once
// The launcher's whole job once every child is ready: notice a child that
// dies, or a signal, and take every process down in the right order.
//   serving   until a signal (drain) or a death (fail);
//   draining  SIGINT/SIGTERM: the frontends stop taking requests, finish those
//             in flight (up to --shutdown-timeout) and exit; a second signal
//             kills everything;
//   stopping  the frontends are gone: the engine core and the workers are
//             told to shut down;
//   failing   a child died or failed: frontends answer 503 for a moment so
//             clients see why, the rest is stopped, and whatever lingers is
//             killed.
#include <chrono>
#include <optional>
#include <string>

#include "base/log.hpp"
#include "base/signal_watch.hpp"
#include "launcher/process_supervisor.hpp"
#include "proto/control_channel.hpp"

namespace waypoint {

class Supervision {
 public:
  Supervision(control::Server& control, ProcessSupervisor& children, SignalWatch& signals,
              std::chrono::seconds shutdown_timeout, const Logger& log);

  // Runs until every child has exited. Returns why the server failed (a child
  // that died or failed), or nullopt after a clean drain.
  std::optional<std::string> run();

 private:
  enum class State { kServing, kDraining, kStopping, kFailing };
  using Clock = std::chrono::steady_clock;

  void on_signal(int signal);
  void on_exit(const ProcessSupervisor::Exit& exit);
  void fail(const std::string& reason);
  void check_deadlines();
  void tell_frontends(std::string_view kind, const std::string& payload = {});
  void stop_backend();
  bool frontends_running() const;

  control::Server& control_;
  ProcessSupervisor& children_;
  SignalWatch& signals_;
  const std::chrono::seconds shutdown_timeout_;
  const Logger& log_;

  State state_ = State::kServing;
  std::optional<std::string> death_;
  Clock::time_point frontends_shutdown_at_{};
  Clock::time_point kill_at_{};
};

}  // namespace waypoint
