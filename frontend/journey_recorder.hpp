#pragma once
// The frontend's half of request journey tracing (DESIGN.md §5). It decides,
// once per HTTP request, whether the request is traced, and tells the core in
// the x-vllm-journey-sampled trace header, so a trace holds both halves or
// neither. It emits the API events (ARRIVED, HANDOFF_TO_CORE,
// FIRST_RESPONSE_FROM_CORE, DEPARTED, ABORTED) and forwards the core's
// journey events, which ride in on EngineCoreOutputs, to the event hub.
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proto/event_hub_frame.hpp"
#include "proto/event_publisher.hpp"
#include "proto/journey_event.hpp"

namespace waypoint {

struct JourneyTracingConfig {
  bool enabled = false;      // --enable-journey-tracing
  double sample_rate = 1.0;  // --journey-tracing-sample-rate
  uint64_t seed = 0;         // makes the sampling sequence reproducible
};

// The hub's shape of a core journey event: attribute keys of DESIGN.md §5.
HubEvent journey_hub_event(const RequestJourneyEvent& event, int64_t epoch_offset_ns);

class JourneyRecorder {
 public:
  // `hub` may be null: no hub configured, events are decided but go nowhere.
  JourneyRecorder(JourneyTracingConfig config, EventPublisher* hub);

  bool enabled() const { return config_.enabled; }
  // The sampling decision for one request; thread-safe.
  bool sample();

  // From the engine client's output thread, before the outputs reach their streams.
  void core_events(int32_t engine_index, const std::vector<RequestJourneyEvent>& events);

  // Traced API journeys that have not ended yet.
  int64_t live_states() const { return live_.load(std::memory_order_relaxed); }
  uint64_t dropped() const { return hub_ == nullptr ? 0 : hub_->dropped(); }

 private:
  friend class ApiJourney;
  void publish(HubEvent event);

  JourneyTracingConfig config_;
  EventPublisher* hub_;
  int64_t epoch_offset_ns_;  // wall clock minus steady clock, read once
  std::atomic<uint64_t> draws_{0};
  std::atomic<int64_t> live_{0};
};

// One engine request's API-side journey. It ends exactly once, with DEPARTED
// or ABORTED; if the request handler leaves any other way (an exception, an
// early return), the destructor reports ABORTED, so no journey is left open.
// A default-constructed one is untraced and every call is a no-op.
class ApiJourney {
 public:
  ApiJourney() = default;
  // Emits ARRIVED at `arrived_ns` (steady clock).
  ApiJourney(JourneyRecorder& recorder, std::string request_id, int64_t arrived_ns);
  ~ApiJourney();
  ApiJourney(ApiJourney&& other) noexcept;
  ApiJourney& operator=(ApiJourney&& other) noexcept;
  ApiJourney(const ApiJourney&) = delete;
  ApiJourney& operator=(const ApiJourney&) = delete;

  bool traced() const { return recorder_ != nullptr; }
  void handoff(int32_t num_prompt_tokens, int32_t max_tokens, bool stream);
  void first_response(int64_t ts_ns);  // once; later calls are ignored
  void departed(int32_t num_output_tokens, std::string_view finish_reason);
  void aborted(std::string_view reason);

 private:
  HubEvent event(std::string_view type, int64_t ts_ns) const;
  void end(HubEvent event);

  JourneyRecorder* recorder_ = nullptr;
  std::string request_id_;
  bool first_response_sent_ = false;
};

}  // namespace waypoint
