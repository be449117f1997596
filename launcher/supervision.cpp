#include "launcher/supervision.hpp"

#include <signal.h>

#include <vector>

#include <zmq.hpp>

#include "proto/zmq_receive.hpp"

namespace waypoint {

namespace {

bool is_frontend(const std::string& name) { return name.rfind("frontend-", 0) == 0; }

}  // namespace

Supervision::Supervision(control::Server& control, ProcessSupervisor& children,
                         SignalWatch& signals, std::chrono::seconds shutdown_timeout,
                         const Logger& log)
    : control_(control),
      children_(children),
      signals_(signals),
      shutdown_timeout_(shutdown_timeout),
      log_(log) {}

std::optional<std::string> Supervision::run() {
  zmq::pollitem_t items[] = {{control_.socket().handle(), 0, ZMQ_POLLIN, 0},
                             {nullptr, signals_.fd(), ZMQ_POLLIN, 0}};
  while (children_.num_running() > 0) {
    poll_through_signals(items, 2, std::chrono::milliseconds(20));
    while (auto signal = signals_.take()) on_signal(*signal);
    while (auto received = control_.receive(std::chrono::milliseconds(0))) {
      if (received->message.kind == control::kFailed) {
        fail(received->from + " failed: " + received->message.payload);
      }
    }
    while (auto exit = children_.reap()) on_exit(*exit);
    check_deadlines();
  }
  return death_;
}

void Supervision::on_signal(int signal) {
  if (state_ == State::kServing) {
    log_.info(std::string("received ") + (signal == SIGINT ? "SIGINT" : "SIGTERM") + ": draining");
    state_ = State::kDraining;
    tell_frontends(control::kDrain);
    kill_at_ = Clock::now() + shutdown_timeout_ + std::chrono::seconds(5);
  } else if (state_ != State::kFailing) {
    log_.warn("second signal: stopping now");
    children_.signal_all(SIGKILL);
  }
}

void Supervision::on_exit(const ProcessSupervisor::Exit& exit) {
  const std::string what = exit.name + " (pid " + std::to_string(exit.pid) + ") " + exit.describe();
  if (state_ == State::kServing) {
    fail(what);
  } else if (state_ == State::kDraining || state_ == State::kStopping) {
    const bool expected = is_frontend(exit.name) || state_ == State::kStopping;
    if (!expected || !exit.clean()) {
      fail(what);
    } else {
      log_.info(exit.name + " stopped");
    }
  }
}

void Supervision::fail(const std::string& reason) {
  if (state_ == State::kFailing) return;
  death_ = reason;
  log_.error(reason + "; shutting down");
  state_ = State::kFailing;
  tell_frontends(control::kEngineDead, reason);
  stop_backend();
  // The engine side may be wedged (a rank waiting on a dead peer).
  for (const auto& name : children_.running_names()) {
    if (!is_frontend(name)) children_.signal(name, SIGTERM);
  }
  // Frontends keep answering 503 briefly, so clients see why, then go.
  frontends_shutdown_at_ = Clock::now() + std::chrono::milliseconds(1500);
  kill_at_ = Clock::now() + std::chrono::milliseconds(4000);
}

void Supervision::check_deadlines() {
  if (state_ == State::kDraining && !frontends_running()) {
    state_ = State::kStopping;
    stop_backend();
    kill_at_ = Clock::now() + std::chrono::seconds(5);
  }
  if (state_ == State::kFailing && frontends_shutdown_at_ != Clock::time_point{} &&
      Clock::now() > frontends_shutdown_at_) {
    tell_frontends(control::kShutdown);
    frontends_shutdown_at_ = {};
  }
  if (kill_at_ != Clock::time_point{} && Clock::now() > kill_at_) {
    for (const auto& name : children_.running_names()) {
      log_.warn(name + " did not stop in time: killing it");
    }
    children_.signal_all(SIGKILL);
    kill_at_ = {};
  }
}

void Supervision::tell_frontends(std::string_view kind, const std::string& payload) {
  for (const auto& name : children_.running_names()) {
    if (is_frontend(name)) control_.send(name, kind, payload);
  }
}

void Supervision::stop_backend() {
  for (const auto& name : children_.running_names()) {
    if (!is_frontend(name)) control_.send(name, control::kShutdown);
  }
}

bool Supervision::frontends_running() const {
  for (const auto& name : children_.running_names()) {
    if (is_frontend(name)) return true;
  }
  return false;
}

}  // namespace waypoint
