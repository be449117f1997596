#pragma once
// What the event hub tests share: a run directory for ipc endpoints, and
// raw multipart send/receive on ZMQ sockets.
#include <chrono>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "proto/event_hub_frame.hpp"
#include "tests/worker/scratch_dir.hpp"

namespace waypoint::testing {

inline std::string ipc_endpoint(const ScratchDir& dir, const std::string& name) {
  return "ipc://" + (dir / name).string();
}

inline std::string seq_bytes(uint64_t seq) {
  const auto a = encode_seq(seq);
  return std::string(a.data(), a.size());
}

// One multipart message, or nullopt if none arrives in time.
inline std::optional<std::vector<std::string>> receive(zmq::socket_t& socket,
                                                       std::chrono::milliseconds timeout) {
  zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
  if (zmq::poll(&item, 1, timeout) == 0) return std::nullopt;
  std::vector<zmq::message_t> parts;
  if (!zmq::recv_multipart(socket, std::back_inserter(parts), zmq::recv_flags::dontwait)) {
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (const auto& p : parts) out.push_back(p.to_string());
  return out;
}

inline void send_parts(zmq::socket_t& socket, const std::vector<std::string>& parts) {
  for (size_t i = 0; i < parts.size(); ++i) {
    socket.send(zmq::buffer(parts[i]),
                i + 1 < parts.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }
}

}  // namespace waypoint::testing
