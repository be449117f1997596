#pragma once
// The engine core's sockets to its frontends, each served by its own thread so
// the step loop never waits on I/O:
// - the intake thread reads every frontend's DEALER (requests, aborts) and the
//   launcher's control channel, and hands decoded messages to the step loop
//   through an inbox;
// - the output thread sends each step's encoded EngineCoreOutputs on the
//   PUSH socket of the frontend they belong to.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include <zmq.hpp>

#include "base/log.hpp"
#include "proto/control_channel.hpp"
#include "proto/engine_core_request.hpp"

namespace waypoint {

struct FrontendEndpoints {
  std::string requests;  // the frontend's ROUTER; we connect a DEALER
  std::string outputs;   // the frontend's PULL; we connect a PUSH
};

struct InboundMessage {
  int32_t client = 0;  // which frontend's socket it came on
  std::variant<EngineCoreRequest, AbortRequests, UtilityCall> body;
};

// Producer: the intake thread. Consumer: the step loop.
class RequestInbox {
 public:
  void push(InboundMessage message);
  // Moves everything queued into `out` (cleared first); never blocks.
  void drain(std::vector<InboundMessage>& out);
  // Blocks until something is queued, wake() is called, or the timeout passes.
  void wait(std::chrono::milliseconds timeout);
  void wake();

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<InboundMessage> queue_;
  bool woken_ = false;
};

class FrontendLink {
 public:
  // Connects to every frontend and greets it, so its ROUTER knows our
  // identity before the first request. Messages from frontend i carry client i.
  FrontendLink(zmq::context_t& context, const std::vector<FrontendEndpoints>& frontends,
               const std::string& identity, const Logger& log);
  ~FrontendLink();
  FrontendLink(const FrontendLink&) = delete;
  FrontendLink& operator=(const FrontendLink&) = delete;

  // Starts both threads. The intake thread takes over `control` and sets
  // `stop` (then wakes the inbox) when the launcher says SHUTDOWN.
  void start(RequestInbox& inbox, control::Channel& control, std::atomic<bool>& stop);

  // Queues one encoded EngineCoreOutputs for frontend `client`.
  void send(int32_t client, std::string frame);

  uint64_t malformed_frames() const { return malformed_.load(); }

 private:
  void intake_loop(RequestInbox& inbox, control::Channel& control, std::atomic<bool>& stop);
  void output_loop();
  void handle_frames(int32_t client, std::vector<zmq::message_t>& parts, RequestInbox& inbox);

  const Logger& log_;
  std::vector<zmq::socket_t> requests_;
  std::vector<zmq::socket_t> outputs_;
  std::atomic<bool> closing_{false};
  std::atomic<uint64_t> malformed_{0};

  std::mutex out_mutex_;
  std::condition_variable out_cv_;
  std::deque<std::pair<int32_t, std::string>> out_queue_;

  std::thread intake_;
  std::thread output_;
};

}  // namespace waypoint
