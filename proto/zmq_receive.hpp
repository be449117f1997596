#pragma once
// Waiting on ZeroMQ sockets with a deadline, in a process that handles
// signals: the launcher, `waypoint events`, the control channel and the
// tests' hub clients.
#include <cerrno>
#include <chrono>
#include <iterator>
#include <optional>
#include <vector>

#include <zmq.hpp>
#include <zmq_addon.hpp>

namespace waypoint {

// zmq::poll, where a signal's EINTR is only a reason to look again (a
// SignalWatch's descriptor is then readable): it reports nothing ready.
inline int poll_through_signals(zmq::pollitem_t* items, size_t count,
                                std::chrono::milliseconds timeout) {
  try {
    return zmq::poll(items, count, timeout);
  } catch (const zmq::error_t& e) {
    if (e.num() != EINTR) throw;
    for (size_t i = 0; i < count; ++i) items[i].revents = 0;
    return 0;
  }
}

// The parts of the next message on `socket`, or nullopt if none arrives in time.
inline std::optional<std::vector<zmq::message_t>> receive_multipart(
    zmq::socket_t& socket, std::chrono::milliseconds timeout) {
  zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
  if (poll_through_signals(&item, 1, timeout) == 0) return std::nullopt;
  std::vector<zmq::message_t> parts;
  if (!zmq::recv_multipart(socket, std::back_inserter(parts), zmq::recv_flags::dontwait)) {
    return std::nullopt;
  }
  return parts;
}

}  // namespace waypoint
