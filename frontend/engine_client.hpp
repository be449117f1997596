#pragma once
// The frontend's side of the engine core. Requests go out on a ROUTER the
// frontend binds (the core connects a DEALER); outputs come back on a PULL the
// frontend binds (the core PUSHes). One output thread decodes every
// EngineCoreOutputs and hands each output to the stream of its request.
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <zmq.hpp>

#include "base/log.hpp"
#include "base/result.hpp"
#include "frontend/request_metrics.hpp"
#include "frontend/request_stream.hpp"
#include "proto/engine_core_output.hpp"
#include "proto/engine_core_request.hpp"

namespace waypoint {

class EngineClient {
 public:
  EngineClient(zmq::context_t& context, const std::string& request_endpoint,
               const std::string& output_endpoint, const Logger& log);
  ~EngineClient();
  EngineClient(const EngineClient&) = delete;
  EngineClient& operator=(const EngineClient&) = delete;

  // Waits for the engine core's greeting, which tells the ROUTER whom to
  // address; a request sent before it would be dropped.
  Result<void> wait_for_engine(std::chrono::milliseconds timeout);
  // Receives each batch's journey events on the output thread, before the
  // batch's outputs reach their streams. Set it before start().
  using JourneySink = std::function<void(int32_t engine_index,
                                         const std::vector<RequestJourneyEvent>& events)>;
  void set_journey_sink(JourneySink sink) { journey_sink_ = std::move(sink); }
  // Where every request's metrics go (its stream tracks them). Set it before start().
  void set_request_metrics(std::shared_ptr<RequestMetrics> metrics) {
    request_metrics_ = std::move(metrics);
  }
  void start();  // the output thread

  // Registers the stream, then sends ADD. Refused once the engine is dead.
  Result<void> add_request(const EngineCoreRequest& request, std::shared_ptr<RequestStream> stream);

  // Forgets the requests' streams and sends ABORT for them: the frontend
  // ended them itself (a stop string, the client gone, the engine failing).
  // The verdict for their metrics is the output processor's, given first
  // (RequestState::conclude).
  void abort(const std::vector<std::string>& request_ids);

  // The engine core (or a worker) died: every in-flight stream ends with
  // `reason`, and so does every later add_request.
  void mark_dead(const std::string& reason);
  bool dead() const { return dead_.load(); }
  size_t in_flight() const;
  std::optional<SchedulerStats> last_stats() const;
  uint64_t malformed_frames() const { return malformed_.load(); }

 private:
  // The three frames of a request to the core: its identity, the type, the body.
  void send(RequestType type, const std::string& body);
  void output_loop();
  void dispatch(const EngineCoreOutputs& outputs);

  const Logger& log_;
  zmq::socket_t requests_;  // guarded by send_mutex_ after start()
  zmq::socket_t outputs_;   // the output thread's
  std::string engine_identity_;
  std::mutex send_mutex_;

  mutable std::mutex streams_mutex_;
  std::unordered_map<std::string, std::shared_ptr<RequestStream>> streams_;
  std::string dead_reason_;
  std::optional<SchedulerStats> last_stats_;
  JourneySink journey_sink_;
  std::shared_ptr<RequestMetrics> request_metrics_;

  std::atomic<bool> dead_{false};
  std::atomic<bool> closing_{false};
  std::atomic<uint64_t> malformed_{0};
  std::thread thread_;
};

}  // namespace waypoint
