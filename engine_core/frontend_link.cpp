#include "engine_core/frontend_link.hpp"

#include <zmq_addon.hpp>

#include "proto/codec.hpp"
#include "proto/request_frame.hpp"

namespace waypoint {

void RequestInbox::push(InboundMessage message) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(message));
  }
  cv_.notify_one();
}

void RequestInbox::drain(std::vector<InboundMessage>& out) {
  out.clear();
  std::lock_guard lock(mutex_);
  out.swap(queue_);
  woken_ = false;
}

void RequestInbox::wait(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  cv_.wait_for(lock, timeout, [this] { return !queue_.empty() || woken_; });
}

void RequestInbox::wake() {
  {
    std::lock_guard lock(mutex_);
    woken_ = true;
  }
  cv_.notify_one();
}

FrontendLink::FrontendLink(zmq::context_t& context, const std::vector<FrontendEndpoints>& frontends,
                           const std::string& identity, const Logger& log)
    : log_(log) {
  for (const auto& f : frontends) {
    zmq::socket_t dealer(context, zmq::socket_type::dealer);
    dealer.set(zmq::sockopt::routing_id, identity);
    dealer.set(zmq::sockopt::linger, 0);
    dealer.connect(f.requests);
    // The frontend waits for this before it reports ready.
    dealer.send(zmq::str_buffer("HELLO"), zmq::send_flags::none);
    requests_.push_back(std::move(dealer));

    zmq::socket_t push(context, zmq::socket_type::push);
    push.set(zmq::sockopt::linger, 0);
    push.connect(f.outputs);
    outputs_.push_back(std::move(push));
  }
}

FrontendLink::~FrontendLink() {
  closing_.store(true);
  out_cv_.notify_all();
  if (intake_.joinable()) intake_.join();
  if (output_.joinable()) output_.join();
}

void FrontendLink::start(RequestInbox& inbox, control::Channel& control, std::atomic<bool>& stop) {
  intake_ = std::thread([this, &inbox, &control, &stop] { intake_loop(inbox, control, stop); });
  output_ = std::thread([this] { output_loop(); });
}

void FrontendLink::send(int32_t client, std::string frame) {
  {
    std::lock_guard lock(out_mutex_);
    out_queue_.emplace_back(client, std::move(frame));
  }
  out_cv_.notify_one();
}

void FrontendLink::handle_frames(int32_t client, std::vector<zmq::message_t>& parts,
                                 RequestInbox& inbox) {
  const std::string peer = "frontend-" + std::to_string(client);
  auto fail = [&](const std::string& why) {
    const uint64_t n = malformed_.fetch_add(1) + 1;
    log_.warn("dropped malformed frame from " + peer + " (" + std::to_string(n) +
              " so far): " + why);
  };
  if (parts.size() != 2) {
    fail("expected 2 frames, got " + std::to_string(parts.size()));
    return;
  }
  auto type = decode_request_type(parts[0].to_string_view());
  if (!type) {
    fail(type.error().message);
    return;
  }
  const auto body = parts[1].to_string_view();
  InboundMessage message{.client = client, .body = AbortRequests{}};
  switch (*type) {
    case RequestType::ADD: {
      auto request = decode<EngineCoreRequest>(body);
      if (!request) return fail(request.error().message);
      // The socket, not the payload, says which frontend to answer.
      request->client_index = client;
      message.body = std::move(*request);
      break;
    }
    case RequestType::ABORT: {
      auto abort = decode<AbortRequests>(body);
      if (!abort) return fail(abort.error().message);
      message.body = std::move(*abort);
      break;
    }
    case RequestType::UTILITY: {
      auto call = decode<UtilityCall>(body);
      if (!call) return fail(call.error().message);
      call->client_index = client;
      message.body = std::move(*call);
      break;
    }
  }
  inbox.push(std::move(message));
}

void FrontendLink::intake_loop(RequestInbox& inbox, control::Channel& control,
                               std::atomic<bool>& stop) {
  std::vector<zmq::pollitem_t> items;
  for (auto& s : requests_) items.push_back({s.handle(), 0, ZMQ_POLLIN, 0});
  items.push_back({control.socket().handle(), 0, ZMQ_POLLIN, 0});
  std::vector<zmq::message_t> parts;
  while (!closing_.load()) {
    zmq::poll(items.data(), items.size(), std::chrono::milliseconds(100));
    for (size_t i = 0; i < requests_.size(); ++i) {
      if (!(items[i].revents & ZMQ_POLLIN)) continue;
      // Bounded per wake-up, so one busy frontend cannot starve the others.
      for (int k = 0; k < 256; ++k) {
        parts.clear();
        if (!zmq::recv_multipart(requests_[i], std::back_inserter(parts),
                                 zmq::recv_flags::dontwait)) {
          break;
        }
        handle_frames(static_cast<int32_t>(i), parts, inbox);
      }
    }
    if (items.back().revents & ZMQ_POLLIN) {
      while (auto message = control.receive(std::chrono::milliseconds(0))) {
        if (message->kind == control::kShutdown) {
          stop.store(true);
          inbox.wake();
        }
      }
    }
  }
}

void FrontendLink::output_loop() {
  std::deque<std::pair<int32_t, std::string>> batch;
  while (true) {
    {
      std::unique_lock lock(out_mutex_);
      out_cv_.wait(lock, [this] { return !out_queue_.empty() || closing_.load(); });
      if (out_queue_.empty() && closing_.load()) return;
      batch.swap(out_queue_);
    }
    for (auto& [client, frame] : batch) {
      if (client < 0 || static_cast<size_t>(client) >= outputs_.size()) continue;
      outputs_[static_cast<size_t>(client)].send(zmq::buffer(frame), zmq::send_flags::none);
    }
    batch.clear();
  }
}

}  // namespace waypoint
