#include "frontend/engine_client.hpp"

#include <algorithm>

#include <zmq_addon.hpp>

#include "proto/codec.hpp"
#include "proto/request_frame.hpp"

namespace waypoint {

EngineClient::EngineClient(zmq::context_t& context, const std::string& request_endpoint,
                           const std::string& output_endpoint, const Logger& log)
    : log_(log),
      requests_(context, zmq::socket_type::router),
      outputs_(context, zmq::socket_type::pull) {
  requests_.set(zmq::sockopt::linger, 0);
  requests_.set(zmq::sockopt::router_mandatory, 1);
  // Requests must never be dropped silently: a full queue blocks the sender
  // briefly rather than losing an ADD.
  requests_.set(zmq::sockopt::sndhwm, 0);
  outputs_.set(zmq::sockopt::linger, 0);
  outputs_.set(zmq::sockopt::rcvhwm, 0);
  requests_.bind(request_endpoint);
  outputs_.bind(output_endpoint);
}

EngineClient::~EngineClient() {
  closing_.store(true);
  if (thread_.joinable()) thread_.join();
}

Result<void> EngineClient::wait_for_engine(std::chrono::milliseconds timeout) {
  zmq::pollitem_t item{requests_.handle(), 0, ZMQ_POLLIN, 0};
  if (zmq::poll(&item, 1, timeout) == 0) return Error{"the engine core never connected"};
  std::vector<zmq::message_t> parts;
  if (!zmq::recv_multipart(requests_, std::back_inserter(parts)) || parts.size() != 2 ||
      parts[1].to_string_view() != "HELLO") {
    return Error{"unexpected first message from the engine core"};
  }
  engine_identity_ = parts[0].to_string();
  return {};
}

void EngineClient::start() {
  thread_ = std::thread([this] { output_loop(); });
}

Result<void> EngineClient::add_request(const EngineCoreRequest& request,
                                       std::shared_ptr<RequestStream> stream) {
  if (request_metrics_) {
    // The request's arrival on the monotonic clock the engine stamps: the
    // epoch arrival_time, moved by how long ago it was.
    const double now_epoch =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    const double arrival = monotonic_now() - std::max(0.0, now_epoch - request.arrival_time);
    stream->track(RequestTracker(request_metrics_,
                                 static_cast<int32_t>(request.prompt_token_ids.size()),
                                 request.sampling_params.max_tokens.value_or(0), arrival));
  }
  // A request that never reaches the engine has no metrics.
  {
    std::lock_guard lock(streams_mutex_);
    if (dead_.load()) {
      stream->untrack();
      return Error{dead_reason_};
    }
    streams_[request.request_id] = stream;
  }
  try {
    send(RequestType::ADD, encode(request));
  } catch (const zmq::error_t& e) {
    stream->untrack();
    std::lock_guard lock(streams_mutex_);
    streams_.erase(request.request_id);
    return Error{std::string("cannot reach the engine core: ") + e.what()};
  }
  return {};
}

void EngineClient::abort(const std::vector<std::string>& request_ids) {
  if (request_ids.empty()) return;
  {
    std::lock_guard lock(streams_mutex_);
    for (const auto& id : request_ids) streams_.erase(id);
    if (dead_.load()) return;
  }
  try {
    send(RequestType::ABORT, encode(AbortRequests{request_ids}));
  } catch (const zmq::error_t& e) {
    log_.warn(std::string("abort not delivered: ") + e.what());
  }
}

void EngineClient::send(RequestType type, const std::string& body) {
  const std::string type_frame = encode_request_type(type);
  std::lock_guard lock(send_mutex_);
  requests_.send(zmq::buffer(engine_identity_), zmq::send_flags::sndmore);
  requests_.send(zmq::buffer(type_frame), zmq::send_flags::sndmore);
  requests_.send(zmq::buffer(body), zmq::send_flags::none);
}

void EngineClient::mark_dead(const std::string& reason) {
  std::unordered_map<std::string, std::shared_ptr<RequestStream>> streams;
  {
    std::lock_guard lock(streams_mutex_);
    if (dead_.exchange(true)) return;
    dead_reason_ = reason;
    streams.swap(streams_);
  }
  for (auto& [id, stream] : streams) stream->fail(reason);
  log_.error("engine unavailable (" + reason + "); failed " + std::to_string(streams.size()) +
             " in-flight request(s)");
}

size_t EngineClient::in_flight() const {
  std::lock_guard lock(streams_mutex_);
  return streams_.size();
}

std::optional<SchedulerStats> EngineClient::last_stats() const {
  std::lock_guard lock(streams_mutex_);
  return last_stats_;
}

void EngineClient::dispatch(const EngineCoreOutputs& batch) {
  // First, so a subscriber sees FIRST_TOKEN before the frontend's
  // FIRST_RESPONSE_FROM_CORE, which follows from the outputs.
  if (journey_sink_ && batch.journey_events && !batch.journey_events->empty()) {
    journey_sink_(batch.engine_index, *batch.journey_events);
  }
  std::lock_guard lock(streams_mutex_);
  if (batch.scheduler_stats) last_stats_ = batch.scheduler_stats;
  for (const EngineCoreOutput& out : batch.outputs) {
    auto it = streams_.find(out.request_id);
    // Unknown: aborted here already (client gone, stop string); the core's
    // last word on it crossed our abort on the wire.
    if (it == streams_.end()) continue;
    it->second->push(out, batch.timestamp);
    if (out.finished()) streams_.erase(it);
  }
}

void EngineClient::output_loop() {
  zmq::pollitem_t item{outputs_.handle(), 0, ZMQ_POLLIN, 0};
  EngineCoreOutputs batch;
  while (!closing_.load()) {
    if (zmq::poll(&item, 1, std::chrono::milliseconds(100)) == 0) continue;
    zmq::message_t frame;
    while (outputs_.recv(frame, zmq::recv_flags::dontwait)) {
      auto decoded = decode<EngineCoreOutputs>(frame.to_string_view());
      if (!decoded) {
        const uint64_t n = malformed_.fetch_add(1) + 1;
        log_.warn("dropped malformed frame from engine-0 (" + std::to_string(n) +
                  " so far): " + decoded.error().message);
        continue;
      }
      dispatch(*decoded);
    }
  }
}

}  // namespace waypoint
