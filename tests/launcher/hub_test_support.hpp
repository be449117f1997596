#pragma once
// What the event hub tests share: a run directory for ipc endpoints, and
// raw multipart send/receive on ZMQ sockets, and the replay protocol's client side.
#include <chrono>
#include <cstdint>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "proto/event_hub_frame.hpp"
#include "proto/zmq_receive.hpp"
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
  auto parts = receive_multipart(socket, timeout);
  if (!parts) return std::nullopt;
  std::vector<std::string> out;
  for (const auto& p : *parts) out.push_back(p.to_string());
  return out;
}

inline void send_parts(zmq::socket_t& socket, const std::vector<std::string>& parts) {
  for (size_t i = 0; i < parts.size(); ++i) {
    socket.send(zmq::buffer(parts[i]),
                i + 1 < parts.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }
}

// One hub message, decoded; throws if what arrives is not one.
inline std::optional<HubFrame> receive_frame(zmq::socket_t& socket,
                                             std::chrono::milliseconds timeout) {
  auto parts = receive(socket, timeout);
  if (!parts) return std::nullopt;
  if (parts->size() != 3) throw std::runtime_error("not a hub message");
  auto frame = decode_hub_frame({(*parts)[0], (*parts)[1], (*parts)[2]});
  if (!frame) throw std::runtime_error("not a hub message: " + frame.error().message);
  return *frame;
}

// What a replay from the hub's ROUTER returned, up to its end marker.
struct Replay {
  std::vector<HubFrame> frames;
  bool ended = false;
};

inline Replay replay(zmq::context_t& context, const std::string& endpoint,
                     const std::vector<std::string>& request) {
  zmq::socket_t dealer(context, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.set(zmq::sockopt::rcvhwm, 0);
  dealer.connect(endpoint);
  send_parts(dealer, request);
  Replay r;
  while (auto frame = receive_frame(dealer, std::chrono::seconds(10))) {
    if (frame->topic == kTopicReplayEnd) {
      EXPECT_EQ(frame->seq, kReplayEndSeq);
      EXPECT_TRUE(frame->payload.empty());
      r.ended = true;
      break;
    }
    r.frames.push_back(std::move(*frame));
  }
  return r;
}

inline Replay replay_from(zmq::context_t& context, const std::string& endpoint, uint64_t start) {
  return replay(context, endpoint, {seq_bytes(start)});
}

}  // namespace waypoint::testing
