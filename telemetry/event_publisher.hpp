#pragma once
// A producer's side of the event hub (docs/architecture.md, "Processes" and "Observability"): a PUB
// socket connected to the hub's XSUB intake. publish() never blocks the caller, a step loop or an
// HTTP thread: it queues the events for a sender thread, and a message that finds the queue full,
// or the hub's pipe at its high-water mark, is dropped and counted. The hub stamps the sequence
// number, so a subscriber sees any drop as a gap.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "proto/event_hub_frame.hpp"

namespace waypoint {

class EventPublisher {
 public:
  struct Options {
    size_t max_queued_messages = 8192;  // beyond this, publish() drops
    int send_hwm = 8192;                // ZMQ messages buffered towards the hub
  };

  // Connects to `endpoint` (the hub's intake). `producer` names this process
  // in every payload ("frontend-0", "engine-0"). Throws zmq::error_t on a bad
  // endpoint.
  EventPublisher(zmq::context_t& context, std::string endpoint, std::string producer);
  EventPublisher(zmq::context_t& context, std::string endpoint, std::string producer,
                 Options options);
  // Sends what is queued for at most ~200 ms, then closes.
  ~EventPublisher();
  EventPublisher(const EventPublisher&) = delete;
  EventPublisher& operator=(const EventPublisher&) = delete;

  // One hub message on `topic`; the payload's ts is stamped when it is sent.
  void publish(std::string_view topic, std::vector<HubEvent> events);
  // The same, naming another producer: the frontend republishes the engine
  // core's journey events under the core's name.
  void publish(std::string_view topic, std::string producer, std::vector<HubEvent> events);
  // The same, with the events built on the sender thread: a caller on a hot
  // path (the token path) queues the raw data and pays only for the copy.
  using MakeEvents = std::function<std::vector<HubEvent>()>;
  void publish_deferred(std::string_view topic, std::string producer, MakeEvents make);

  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  uint64_t sent() const { return sent_.load(std::memory_order_relaxed); }

  // Waits until everything queued so far has been handed to ZMQ (tests, shutdown).
  bool flush(std::chrono::milliseconds timeout);

 private:
  struct Pending {
    std::string topic;
    std::string producer;
    std::vector<HubEvent> events;
    MakeEvents make;  // set: build the events when sending
  };
  void enqueue(Pending pending);
  void run();

  std::string producer_;
  Options options_;
  zmq::socket_t socket_;  // the sender thread's
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable drained_;
  std::deque<Pending> queue_;
  size_t in_progress_ = 0;
  bool closing_ = false;
  std::atomic<uint64_t> dropped_{0};
  std::atomic<uint64_t> sent_{0};
  std::thread thread_;
};

}  // namespace waypoint
