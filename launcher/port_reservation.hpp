#pragma once
// Keeps a TCP port ours until the frontends listen on it. They bind it with
// SO_REUSEPORT, and so does this socket, so `--port 0` can pick a free port
// here and hand the same number to every frontend.
#include <cstdint>
#include <string>

#include "base/unique_fd.hpp"

namespace waypoint {

class PortReservation {
 public:
  // Binds host:port (port 0: any free one); throws std::runtime_error naming
  // what failed.
  PortReservation(const std::string& host, int port);

  uint16_t port() const { return port_; }
  // The frontends listen now: let the port go.
  void release() { fd_.reset(); }

 private:
  UniqueFd fd_;
  uint16_t port_ = 0;
};

}  // namespace waypoint
