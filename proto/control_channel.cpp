#include "proto/control_channel.hpp"

#include <vector>

#include <zmq_addon.hpp>

#include "proto/zmq_receive.hpp"

namespace waypoint::control {

Channel::Channel(zmq::context_t& context, const std::string& endpoint, const std::string& name)
    : socket_(context, zmq::socket_type::dealer) {
  socket_.set(zmq::sockopt::routing_id, name);
  socket_.set(zmq::sockopt::linger, 1000);
  socket_.connect(endpoint);
}

Result<std::string> Channel::handshake(std::chrono::milliseconds timeout) {
  send(kHello);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return Error{"no CONFIG from the launcher"};
    auto message = receive(left);
    if (!message) continue;
    if (message->kind == kConfig) return std::move(message->payload);
    if (message->kind == kShutdown) return Error{"the launcher is shutting down"};
  }
}

void Channel::send(std::string_view kind, std::string_view payload) {
  socket_.send(zmq::buffer(kind), zmq::send_flags::sndmore);
  socket_.send(zmq::buffer(payload), zmq::send_flags::none);
}

std::optional<Message> Channel::receive(std::chrono::milliseconds timeout) {
  auto parts = receive_multipart(socket_, timeout);
  if (!parts || parts->empty()) return std::nullopt;
  Message m;
  m.kind = (*parts)[0].to_string();
  if (parts->size() > 1) m.payload = (*parts)[1].to_string();
  return m;
}

Result<std::string> Channel::await(std::string_view kind,
                                   const std::function<bool()>& launcher_alive) {
  while (true) {
    if (!launcher_alive()) return Error{"the launcher is gone"};
    auto message = receive(std::chrono::milliseconds(200));
    if (!message) continue;
    if (message->kind == kind) return std::move(message->payload);
    if (message->kind == kShutdown) return Error{"the launcher is shutting down"};
  }
}

Server::Server(zmq::context_t& context, const std::string& endpoint)
    : socket_(context, zmq::socket_type::router) {
  socket_.set(zmq::sockopt::linger, 0);
  // A reply to a child that is gone fails at once instead of vanishing.
  socket_.set(zmq::sockopt::router_mandatory, 1);
  socket_.bind(endpoint);
}

std::optional<Server::Received> Server::receive(std::chrono::milliseconds timeout) {
  auto parts = receive_multipart(socket_, timeout);
  if (!parts || parts->size() < 2) return std::nullopt;
  Received r;
  r.from = (*parts)[0].to_string();
  r.message.kind = (*parts)[1].to_string();
  if (parts->size() > 2) r.message.payload = (*parts)[2].to_string();
  return r;
}

void Server::send(const std::string& to, std::string_view kind, std::string_view payload) {
  try {
    socket_.send(zmq::buffer(to), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(kind), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(payload), zmq::send_flags::none);
  } catch (const zmq::error_t&) {
    // EHOSTUNREACH: the child already exited; supervision reports that.
  }
}

}  // namespace waypoint::control
