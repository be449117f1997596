#pragma once
// The launcher's control plane: how `waypoint serve` brings its children up
// and takes them down. Each child connects a DEALER (identity = its name,
// e.g. "engine-0") to the launcher's ROUTER. Messages are two frames,
// [kind, payload], where the payload is JSON or a reason in plain text.
//
//   child  -> launcher  HELLO                 I exist; send me my config
//   launcher -> child   CONFIG   {json}       this process's whole configuration
//   child  -> launcher  READY    {json}       loaded, bound, connected
//   child  -> launcher  FAILED   reason      could not start (or died of an error)
//   launcher -> child   START                 every process is ready: serve
//   launcher -> child   DRAIN                 (frontends) stop accepting, finish, exit
//   launcher -> child   ENGINE_DEAD reason    (frontends) fail in-flight requests, 503
//   launcher -> child   SHUTDOWN              exit now
//
// CUDA workers add two exchanges between CONFIG and READY:
//   worker-0 -> launcher NCCL_ID  hex        the communicator's unique id (TP > 1)
//   launcher -> worker-r NCCL_ID  hex        the same id, relayed to ranks 1..
//   worker-r -> launcher KV_BLOCKS {json}    {"num_blocks": N}: what its memory holds
//   launcher -> worker-r KV_BLOCKS {json}    {"num_blocks": N}: the pool every rank
//                                            allocates (the least any rank can hold)
// The engine core is configured only once the pool's size is known.
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <zmq.hpp>

#include "base/log.hpp"
#include "base/result.hpp"

namespace waypoint::control {

inline constexpr std::string_view kHello = "HELLO";
inline constexpr std::string_view kConfig = "CONFIG";
inline constexpr std::string_view kReady = "READY";
inline constexpr std::string_view kFailed = "FAILED";
inline constexpr std::string_view kStart = "START";
inline constexpr std::string_view kDrain = "DRAIN";
inline constexpr std::string_view kEngineDead = "ENGINE_DEAD";
inline constexpr std::string_view kShutdown = "SHUTDOWN";
inline constexpr std::string_view kNcclId = "NCCL_ID";
inline constexpr std::string_view kKvBlocks = "KV_BLOCKS";

struct Message {
  std::string kind;
  std::string payload;
};

// A child's end. Used by one thread at a time.
class Channel {
 public:
  Channel(zmq::context_t& context, const std::string& endpoint, const std::string& name);

  // Sends HELLO and waits for CONFIG; returns its payload.
  Result<std::string> handshake(std::chrono::milliseconds timeout);
  void send(std::string_view kind, std::string_view payload = {});
  // The next message, or nullopt when none arrives within `timeout`.
  std::optional<Message> receive(std::chrono::milliseconds timeout);
  // Waits, without a deadline of its own (the launcher enforces the startup
  // timeout), for a message of `kind` and returns its payload. SHUTDOWN, or
  // `launcher_alive` turning false (polled a few times a second), is an error, so
  // an orphaned child does not wait forever. Other messages are dropped.
  Result<std::string> await(std::string_view kind, const std::function<bool()>& launcher_alive);
  zmq::socket_t& socket() { return socket_; }

 private:
  zmq::socket_t socket_;
};

// A child's bring-up: HELLO, then CONFIG parsed by `parse`. A failure is
// logged, and told to the launcher when it can be, so the caller only exits.
template <class Config, class Parse>
Result<Config> receive_config(Channel& channel, Parse parse, const Logger& log) {
  auto text = channel.handshake(std::chrono::seconds(30));
  if (!text) {
    log.error(text.error().message);
    return text.error();
  }
  Result<Config> config = parse(*text);
  if (!config) channel.send(kFailed, config.error().message);
  return config;
}

// The launcher's end.
class Server {
 public:
  Server(zmq::context_t& context, const std::string& endpoint);

  struct Received {
    std::string from;  // the child's name
    Message message;
  };
  std::optional<Received> receive(std::chrono::milliseconds timeout);
  void send(const std::string& to, std::string_view kind, std::string_view payload = {});
  zmq::socket_t& socket() { return socket_; }

 private:
  zmq::socket_t socket_;
};

}  // namespace waypoint::control
