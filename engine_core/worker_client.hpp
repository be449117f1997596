#pragma once
// The engine's side of the workers: each step's SchedulerOutput goes out
// once, to every rank in a worker process, on a PUB socket. Under `waypoint
// serve` every rank is one, and rank 0 answers on a PULL socket. The offline
// engine (launcher/offline_engine.hpp) runs rank 0 in its own process
// instead: the step goes out to ranks 1.., then rank 0 runs it here. Either
// way it is the Executor the step loop drives.
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
  // Rank 0 is `local_rank0`, run in this process; ranks 1..world_size-1
  // subscribe to `steps_endpoint`. Nothing replies: rank 0's result is local.
  WorkerClient(zmq::context_t& context, const std::string& steps_endpoint, int32_t world_size,
               Executor& local_rank0);

  // Waits until every rank has subscribed: a step published earlier would be
  // lost (PUB drops messages for subscribers that have not joined yet).
  Result<void> wait_for_ranks(std::chrono::milliseconds timeout);

  // Throws std::runtime_error when rank 0 reports a failure or `stop` is set.
  ModelRunnerOutput execute_model(const SchedulerOutput& step) override;

 private:
  ModelRunnerOutput await_reply(const SchedulerOutput& step);

  zmq::socket_t steps_;
  zmq::socket_t replies_;
  int32_t subscribers_;  // the ranks in worker processes
  Executor* local_rank0_ = nullptr;
  std::atomic<bool> never_stop_{false};
  const std::atomic<bool>& stop_;
  std::chrono::microseconds busy_poll_;
  std::string buffer_;
};

}  // namespace waypoint
