#pragma once
// Waiting for one multipart ZeroMQ message with a deadline: the control
// channel and the tests' hub clients both need it.
#include <chrono>
#include <iterator>
#include <optional>
#include <vector>

#include <zmq.hpp>
#include <zmq_addon.hpp>

namespace waypoint {

// The parts of the next message on `socket`, or nullopt if none arrives in time.
inline std::optional<std::vector<zmq::message_t>> receive_multipart(
    zmq::socket_t& socket, std::chrono::milliseconds timeout) {
  zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
  if (zmq::poll(&item, 1, timeout) == 0) return std::nullopt;
  std::vector<zmq::message_t> parts;
  if (!zmq::recv_multipart(socket, std::back_inserter(parts), zmq::recv_flags::dontwait)) {
    return std::nullopt;
  }
  return parts;
}

}  // namespace waypoint
