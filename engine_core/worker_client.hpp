#pragma once
// The engine core's side of the workers: each step's SchedulerOutput goes out
// once, to every rank, on a PUB socket; rank 0 answers on a PULL socket. It is
// the Executor the step loop drives, exactly as `generate` drives an
// in-process model runner.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include <zmq.hpp>

#include "base/result.hpp"
#include "proto/executor.hpp"

namespace waypoint {

class WorkerClient final : public Executor {
 public:
  // Binds both endpoints. `stop` ends a wait for a reply that will not come
  // (the launcher is shutting the engine down). A reply is awaited spinning
  // for up to `busy_poll` before sleeping (proto/busy_poll.hpp).
  WorkerClient(zmq::context_t& context, const std::string& steps_endpoint,
               const std::string& reply_endpoint, int32_t world_size,
               const std::atomic<bool>& stop, std::chrono::microseconds busy_poll);

  // Waits until every rank has subscribed: a step published earlier would be
  // lost (PUB drops messages for subscribers that have not joined yet).
  Result<void> wait_for_ranks(std::chrono::milliseconds timeout);

  // Throws std::runtime_error when rank 0 reports a failure or `stop` is set.
  ModelRunnerOutput execute_model(const SchedulerOutput& step) override;

 private:
  zmq::socket_t steps_;
  zmq::socket_t replies_;
  int32_t world_size_;
  const std::atomic<bool>& stop_;
  std::chrono::microseconds busy_poll_;
  std::string buffer_;
};

}  // namespace waypoint
