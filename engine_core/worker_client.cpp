#include "engine_core/worker_client.hpp"

#include <stdexcept>

#include "proto/busy_poll.hpp"
#include "proto/codec.hpp"
#include "proto/model_runner_output.hpp"
#include "proto/scheduler_output.hpp"
#include "proto/zmq_receive.hpp"

namespace waypoint {

WorkerClient::WorkerClient(zmq::context_t& context, const std::string& steps_endpoint,
                           const std::string& reply_endpoint, int32_t world_size,
                           const std::atomic<bool>& stop, std::chrono::microseconds busy_poll)
    : steps_(context, zmq::socket_type::xpub),
      replies_(context, zmq::socket_type::pull),
      subscribers_(world_size),
      stop_(stop),
      busy_poll_(busy_poll) {
  // Verbose: every rank's subscription arrives, even though all subscribe to
  // the same (empty) prefix, so wait_for_ranks can count them.
  steps_.set(zmq::sockopt::xpub_verbose, 1);
  steps_.set(zmq::sockopt::linger, 0);
  replies_.set(zmq::sockopt::linger, 0);
  steps_.bind(steps_endpoint);
  replies_.bind(reply_endpoint);
}

WorkerClient::WorkerClient(zmq::context_t& context, const std::string& steps_endpoint,
                           int32_t world_size, Executor& local_rank0)
    : steps_(context, zmq::socket_type::xpub),
      subscribers_(world_size - 1),
      local_rank0_(&local_rank0),
      stop_(never_stop_) {
  steps_.set(zmq::sockopt::xpub_verbose, 1);
  steps_.set(zmq::sockopt::linger, 0);
  steps_.bind(steps_endpoint);
}

Result<void> WorkerClient::wait_for_ranks(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int32_t joined = 0;
  while (joined < subscribers_) {
    if (stop_.load()) return Error{"stopped while waiting for the workers"};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return Error{std::to_string(joined) + " of " + std::to_string(subscribers_) +
                   " workers joined the step broadcast"};
    }
    zmq::pollitem_t item{steps_.handle(), 0, ZMQ_POLLIN, 0};
    if (poll_through_signals(&item, 1, std::min(left, std::chrono::milliseconds(100))) == 0) {
      continue;
    }
    zmq::message_t m;
    if (steps_.recv(m, zmq::recv_flags::dontwait) && m.size() > 0 &&
        static_cast<const char*>(m.data())[0] == 1) {
      ++joined;
    }
  }
  return {};
}

ModelRunnerOutput WorkerClient::execute_model(const SchedulerOutput& step) {
  buffer_ = encode(step);
  steps_.send(zmq::buffer(buffer_), zmq::send_flags::none);
  // Rank 0 here all-reduces with the others as they run the same step.
  if (local_rank0_ != nullptr) return local_rank0_->execute_model(step);
  return await_reply(step);
}

ModelRunnerOutput WorkerClient::await_reply(const SchedulerOutput& step) {
  zmq::pollitem_t items[] = {{replies_.handle(), 0, ZMQ_POLLIN, 0},
                             {steps_.handle(), 0, ZMQ_POLLIN, 0}};
  auto spin = busy_poll_;
  while (true) {
    // Poll in slices so a shutdown is noticed while a worker is stuck or dead.
    busy_poll(items, 2, spin, std::chrono::milliseconds(100));
    spin = std::chrono::microseconds(0);
    if (items[1].revents & ZMQ_POLLIN) {
      zmq::message_t ignored;  // (un)subscriptions; drained so they do not pile up
      while (steps_.recv(ignored, zmq::recv_flags::dontwait)) {
      }
    }
    if (items[0].revents & ZMQ_POLLIN) break;
    if (stop_.load()) throw std::runtime_error("engine stopped while waiting for the workers");
  }
  zmq::message_t reply;
  if (!replies_.recv(reply, zmq::recv_flags::none)) {
    throw std::runtime_error("no reply from worker rank 0");
  }
  const auto bytes = reply.to_string_view();
  if (bytes.empty() || bytes[0] != kStepReplyOk) {
    throw std::runtime_error("worker rank 0 failed step " + std::to_string(step.scheduler_step) +
                             ": " + std::string(bytes.empty() ? "" : bytes.substr(1)));
  }
  auto out = decode<ModelRunnerOutput>(bytes.substr(1));
  if (!out) throw std::runtime_error("from worker rank 0: " + out.error().message);
  return std::move(*out);
}

}  // namespace waypoint
