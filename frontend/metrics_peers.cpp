#include "frontend/metrics_peers.hpp"

#include <array>
#include <memory>

#include <zmq_addon.hpp>

#include "proto/codec.hpp"

namespace waypoint {

namespace {

// The one question a peer is asked; the answer is an encoded FrontendMetricsSnapshot.
constexpr std::string_view kAsk = "SNAPSHOT";
constexpr auto kAnswerPoll = std::chrono::milliseconds(100);  // how soon the thread sees a stop

std::string peer_name(size_t index) { return "frontend-" + std::to_string(index); }

}  // namespace

MetricsPeers::MetricsPeers(std::vector<std::string> endpoints, int32_t self, LocalSnapshot local,
                           const Logger& log, std::chrono::milliseconds timeout)
    : endpoints_(std::move(endpoints)),
      self_(self),
      local_(std::move(local)),
      log_(log),
      timeout_(timeout),
      context_(1),
      router_(context_, zmq::socket_type::router),
      last_(endpoints_.size()),
      answering_(endpoints_.size(), true) {
  router_.set(zmq::sockopt::linger, 0);
  if (endpoints_.size() < 2 || self_ < 0 || static_cast<size_t>(self_) >= endpoints_.size()) {
    return;
  }
  try {
    router_.bind(endpoints_[static_cast<size_t>(self_)]);
  } catch (const zmq::error_t& e) {
    log_.error("metrics: cannot bind " + endpoints_[static_cast<size_t>(self_)] + " (" + e.what() +
               "); scrapes of the other frontends will leave this one out");
    return;
  }
  thread_ = std::jthread([this](std::stop_token stop) { answer(stop); });
}

MetricsPeers::~MetricsPeers() {
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
}

void MetricsPeers::answer(std::stop_token stop) {
  zmq::pollitem_t item{router_.handle(), 0, ZMQ_POLLIN, 0};
  while (!stop.stop_requested()) {
    try {
      if (zmq::poll(&item, 1, kAnswerPoll) == 0) continue;
      std::vector<zmq::message_t> parts;
      if (!zmq::recv_multipart(router_, std::back_inserter(parts), zmq::recv_flags::dontwait)) {
        continue;
      }
      // A REQ peer's envelope: [identity, empty delimiter, question].
      if (parts.size() != 3 || parts[1].size() != 0 || parts[2].to_string_view() != kAsk) {
        log_.warn("metrics: dropped a malformed question from a peer");
        continue;
      }
      const std::string reply = encode(local_());
      std::array<zmq::const_buffer, 3> frames{zmq::buffer(parts[0].data(), parts[0].size()),
                                              zmq::const_buffer{}, zmq::buffer(reply)};
      zmq::send_multipart(router_, frames, zmq::send_flags::dontwait);
    } catch (const zmq::error_t& e) {
      // A peer that left between question and answer; the next question is unaffected.
      log_.warn(std::string("metrics: answering a peer: ") + e.what());
    }
  }
}

std::vector<FrontendMetricsSnapshot> MetricsPeers::collect() {
  struct Asked {
    size_t index;
    std::unique_ptr<zmq::socket_t> socket;
    std::optional<FrontendMetricsSnapshot> answer;
  };
  std::vector<Asked> asked;
  for (size_t i = 0; i < endpoints_.size(); ++i) {
    if (static_cast<int32_t>(i) == self_ || endpoints_[i].empty()) continue;
    auto socket = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::req);
    socket->set(zmq::sockopt::linger, 0);
    try {
      socket->connect(endpoints_[i]);
      // Queued until the connection is up; a peer that never comes times out below.
      if (!socket->send(zmq::buffer(kAsk), zmq::send_flags::dontwait)) continue;
    } catch (const zmq::error_t& e) {
      log_.warn("metrics: cannot ask " + peer_name(i) + ": " + e.what());
      continue;
    }
    asked.push_back({i, std::move(socket), std::nullopt});
  }

  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  size_t waiting = asked.size();
  try {
    while (waiting > 0) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      std::vector<zmq::pollitem_t> items;
      std::vector<Asked*> polled;
      for (Asked& a : asked) {
        if (a.answer || !a.socket) continue;
        items.push_back({a.socket->handle(), 0, ZMQ_POLLIN, 0});
        polled.push_back(&a);
      }
      if (zmq::poll(items.data(), items.size(), left) == 0) break;
      for (size_t k = 0; k < items.size(); ++k) {
        if ((items[k].revents & ZMQ_POLLIN) == 0) continue;
        Asked& a = *polled[k];
        zmq::message_t reply;
        --waiting;
        const bool received = a.socket->recv(reply, zmq::recv_flags::dontwait).has_value();
        a.socket.reset();  // done with it, answered or not
        if (!received) continue;
        auto decoded = decode<FrontendMetricsSnapshot>(reply.to_string_view());
        if (decoded) {
          a.answer = std::move(*decoded);
        } else {
          log_.warn("metrics: " + peer_name(a.index) +
                    " sent a malformed snapshot: " + decoded.error().message);
        }
      }
    }
  } catch (const zmq::error_t& e) {
    // A signal (EINTR) or shutdown: the scrape gets what came so far.
    log_.warn(std::string("metrics: waiting for peers: ") + e.what());
  }

  std::vector<FrontendMetricsSnapshot> snapshots;
  std::lock_guard lock(mutex_);
  for (Asked& a : asked) {
    const bool answered = a.answer.has_value();
    if (answered) last_[a.index] = std::move(a.answer);
    if (answered != answering_[a.index]) {
      answering_[a.index] = answered;
      if (answered) {
        log_.info("metrics: " + peer_name(a.index) + " answers again");
      } else {
        log_.warn("metrics: " + peer_name(a.index) + " did not answer within " +
                  std::to_string(timeout_.count()) + " ms; its last snapshot stands in");
      }
    }
  }
  for (const auto& s : last_) {
    if (s) snapshots.push_back(*s);
  }
  return snapshots;
}

}  // namespace waypoint
