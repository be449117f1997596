#pragma once
// How a scrape of one frontend covers them all (docs/metrics.md). Frontends
// share the HTTP port, so a scrape lands on any one of them; that one asks
// the others for their FrontendMetricsSnapshot over ZeroMQ and adds them up.
//
// Each frontend binds a ROUTER on its own endpoint (metrics_endpoints[its
// client index]) and answers from a thread of its own. An asker uses a fresh
// REQ socket per peer per scrape, so a lost reply never leaves a socket
// stuck, and waits at most the timeout: a peer that does not answer in time
// is logged (once, until it answers again) and stands in with the last
// snapshot it gave, so the summed counters never go backwards.
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "base/log.hpp"
#include "frontend/metrics_snapshot.hpp"

namespace waypoint {

class MetricsPeers {
 public:
  // This frontend's snapshot, fresh; called on the answering thread.
  using LocalSnapshot = std::function<FrontendMetricsSnapshot()>;

  // `endpoints` by client index; empty (or only ours): a lone frontend, which
  // binds nothing. A bind that fails is logged, and the others do without us.
  MetricsPeers(std::vector<std::string> endpoints, int32_t self, LocalSnapshot local,
               const Logger& log,
               std::chrono::milliseconds timeout = std::chrono::milliseconds(500));
  ~MetricsPeers();  // stops and joins the answering thread
  MetricsPeers(const MetricsPeers&) = delete;
  MetricsPeers& operator=(const MetricsPeers&) = delete;

  // Every other frontend's snapshot: fresh where it answered in time, else
  // the last it gave; none for one that never answered. Thread-safe; takes
  // at most the timeout.
  std::vector<FrontendMetricsSnapshot> collect();

 private:
  void answer(std::stop_token stop);

  const std::vector<std::string> endpoints_;
  const int32_t self_;
  const LocalSnapshot local_;
  const Logger& log_;
  const std::chrono::milliseconds timeout_;
  zmq::context_t context_;
  zmq::socket_t router_;  // the answering thread's, once it runs

  std::mutex mutex_;
  // By client index: the last snapshot each peer gave, and whether it
  // answered the last time it was asked (to log only the changes).
  std::vector<std::optional<FrontendMetricsSnapshot>> last_;
  std::vector<bool> answering_;
  std::jthread thread_;  // last: joined before the rest goes
};

}  // namespace waypoint
