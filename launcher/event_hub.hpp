#pragma once
// The event hub (docs/architecture.md, "Processes" and "Observability"), hosted by the `waypoint
// serve` launcher on its own thread. Producers' PUB sockets connect to the XSUB intake and send
// [topic, payload]; the hub stamps one global sequence number on each message and republishes
// [topic, seq (u64 big-endian), payload] on the public XPUB. It keeps the last `buffer_messages`
// messages for replay.
//
// Replay, on a ROUTER: a DEALER sends one frame, the start seq as 8 bytes
// big-endian, and receives [topic, seq, payload] for every buffered message
// with seq >= start, oldest first (from the oldest kept when start is older),
// then the end marker [kTopicReplayEnd, kReplayEndSeq, ""]. A malformed
// request gets the end marker alone.
//
// Nothing here blocks: a slow subscriber loses messages at its high-water
// mark, and the gap in seq tells it so. A message on the intake that is not
// [topic, payload] is counted and dropped.
#include <atomic>
#include <cstdint>
#include <deque>
#include <string>
#include <thread>

#include <zmq.hpp>

namespace waypoint {

struct EventHubConfig {
  std::string intake_endpoint;     // XSUB binds; producers' PUBs connect (ipc:// in the run dir)
  std::string publish_endpoint;    // XPUB binds: --event-endpoint, default tcp://127.0.0.1:5557
  std::string replay_endpoint;     // ROUTER binds: --event-replay-endpoint, default :5558
  size_t buffer_messages = 10000;  // --event-buffer: messages kept for replay
  int subscriber_hwm = 10000;      // XPUB per-subscriber high-water mark
};

class EventHub {
 public:
  // Binds all three endpoints, then starts the hub thread. Throws
  // std::runtime_error naming the flag and endpoint that could not be bound.
  EventHub(zmq::context_t& context, EventHubConfig config);
  // Stops and joins the hub thread (within ~100 ms).
  ~EventHub();
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;

  // The bound addresses (ZMQ_LAST_ENDPOINT), so "tcp://127.0.0.1:*" can be used.
  std::string intake_endpoint() const { return intake_endpoint_; }
  std::string publish_endpoint() const { return publish_endpoint_; }
  std::string replay_endpoint() const { return replay_endpoint_; }

  uint64_t messages() const { return messages_.load(std::memory_order_acquire); }  // = next seq
  uint64_t malformed() const { return malformed_.load(std::memory_order_relaxed); }

 private:
  struct Stored {
    std::string topic;
    uint64_t seq;
    std::string payload;
  };
  void run();
  void take_intake();
  void serve_replay();
  void discard_subscriptions();

  EventHubConfig config_;
  // Used by the hub thread only, once it has started.
  zmq::socket_t intake_;
  zmq::socket_t publish_;
  zmq::socket_t replay_;
  std::string intake_endpoint_;
  std::string publish_endpoint_;
  std::string replay_endpoint_;
  std::deque<Stored> buffer_;  // seqs are consecutive: buffer_[i].seq == buffer_.front().seq + i
  std::atomic<uint64_t> messages_{0};
  std::atomic<uint64_t> malformed_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace waypoint
