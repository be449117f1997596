#include "launcher/event_hub.hpp"

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>

#include <zmq_addon.hpp>

#include "base/log.hpp"
#include "proto/event_hub_frame.hpp"

namespace waypoint {

namespace {

// Messages taken from one socket before the others get a turn: a flood on
// the intake must not starve a replay request, or stop.
constexpr int kBurst = 1024;

std::string bind_or_throw(zmq::socket_t& socket, const std::string& endpoint,
                          std::string_view what) {
  try {
    socket.bind(endpoint);
  } catch (const zmq::error_t& e) {
    throw std::runtime_error("cannot bind " + std::string(what) + " " + endpoint + ": " + e.what());
  }
  return socket.get(zmq::sockopt::last_endpoint);
}

std::optional<std::vector<zmq::message_t>> receive_now(zmq::socket_t& socket) {
  std::vector<zmq::message_t> parts;
  if (!zmq::recv_multipart(socket, std::back_inserter(parts), zmq::recv_flags::dontwait)) {
    return std::nullopt;
  }
  return parts;
}

}  // namespace

EventHub::EventHub(zmq::context_t& context, EventHubConfig config)
    : config_(std::move(config)),
      intake_(context, zmq::socket_type::xsub),
      publish_(context, zmq::socket_type::xpub),
      replay_(context, zmq::socket_type::router) {
  intake_.set(zmq::sockopt::linger, 0);
  publish_.set(zmq::sockopt::linger, 0);
  publish_.set(zmq::sockopt::sndhwm, config_.subscriber_hwm);
  replay_.set(zmq::sockopt::linger, 0);
  // Unbounded, so a replay of the whole buffer is never cut short.
  replay_.set(zmq::sockopt::sndhwm, 0);

  intake_endpoint_ = bind_or_throw(intake_, config_.intake_endpoint, "the event intake");
  publish_endpoint_ = bind_or_throw(publish_, config_.publish_endpoint, "--event-endpoint");
  replay_endpoint_ = bind_or_throw(replay_, config_.replay_endpoint, "--event-replay-endpoint");

  // An XSUB forwards nothing until it subscribes; this subscribes to every
  // topic, at every producer that connects now or later.
  constexpr char kSubscribeAll = '\x01';
  intake_.send(zmq::const_buffer(&kSubscribeAll, 1), zmq::send_flags::none);

  thread_ = std::thread([this] { run(); });
}

EventHub::~EventHub() {
  stop_.store(true, std::memory_order_relaxed);
  thread_.join();
}

void EventHub::run() {
  const Logger log("event-hub");
  zmq::pollitem_t items[] = {
      {intake_.handle(), 0, ZMQ_POLLIN, 0},
      {replay_.handle(), 0, ZMQ_POLLIN, 0},
      {publish_.handle(), 0, ZMQ_POLLIN, 0},
  };
  while (!stop_.load(std::memory_order_relaxed)) {
    try {
      // The timeout is how soon the destructor's stop is noticed.
      zmq::poll(items, std::size(items), std::chrono::milliseconds(100));
      if (items[0].revents & ZMQ_POLLIN) take_intake();
      if (items[1].revents & ZMQ_POLLIN) serve_replay();
      if (items[2].revents & ZMQ_POLLIN) discard_subscriptions();
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) return;  // the context is closing under us
      if (e.num() != EINTR) log.warn(std::string("event hub: ") + e.what());
    }
  }
}

void EventHub::take_intake() {
  for (int i = 0; i < kBurst; ++i) {
    auto parts = receive_now(intake_);
    if (!parts) return;
    if (parts->size() != 2 || (*parts)[0].size() == 0) {
      malformed_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    const uint64_t seq = messages_.load(std::memory_order_relaxed);
    const auto seq_bytes = encode_seq(seq);
    if (config_.buffer_messages > 0) {
      buffer_.push_back(Stored{(*parts)[0].to_string(), seq, (*parts)[1].to_string()});
      if (buffer_.size() > config_.buffer_messages) buffer_.pop_front();
    }
    // dontwait: a subscriber at its high-water mark loses this message (the
    // XPUB drops it for that pipe alone) rather than stalling everyone.
    publish_.send((*parts)[0], zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    publish_.send(zmq::buffer(seq_bytes), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    publish_.send((*parts)[1], zmq::send_flags::dontwait);
    messages_.store(seq + 1, std::memory_order_release);
  }
}

void EventHub::serve_replay() {
  for (int i = 0; i < kBurst; ++i) {
    auto parts = receive_now(replay_);
    if (!parts) return;
    if (parts->empty()) continue;
    const zmq::message_t& identity = parts->front();
    const auto send = [&](std::string_view topic, uint64_t seq, std::string_view payload) {
      const auto seq_bytes = encode_seq(seq);
      const auto more = zmq::send_flags::sndmore | zmq::send_flags::dontwait;
      return replay_.send(zmq::buffer(identity.data(), identity.size()), more) &&
             replay_.send(zmq::buffer(topic), more) && replay_.send(zmq::buffer(seq_bytes), more) &&
             replay_.send(zmq::buffer(payload), zmq::send_flags::dontwait);
    };

    std::optional<uint64_t> start;
    if (parts->size() == 2) {
      if (auto seq = decode_seq((*parts)[1].to_string_view())) start = *seq;
    }
    bool ok = true;
    if (start && !buffer_.empty()) {
      const uint64_t oldest = buffer_.front().seq;
      const size_t from =
          *start <= oldest
              ? 0
              : static_cast<size_t>(std::min<uint64_t>(*start - oldest, buffer_.size()));
      for (size_t k = from; k < buffer_.size() && ok; ++k) {
        ok = send(buffer_[k].topic, buffer_[k].seq, buffer_[k].payload);
      }
    }
    // With no high-water mark a send does not fail; were it to, a partial
    // replay must not end with a marker that says it is whole.
    if (ok) send(kTopicReplayEnd, kReplayEndSeq, {});
  }
}

void EventHub::discard_subscriptions() {
  // Every subscriber gets every topic; subscriptions only need reading so
  // they do not pile up.
  for (int i = 0; i < kBurst; ++i) {
    if (!receive_now(publish_)) return;
  }
}

}  // namespace waypoint
