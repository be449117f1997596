#pragma once
// The frontend's half of request journey tracing (docs/architecture.md, "Observability"). It
// decides, once per HTTP request, whether the request is traced, and tells the core in the
// x-vllm-journey-sampled trace header, so a trace holds both halves or neither. It emits the API
// events (ARRIVED, HANDOFF_TO_CORE, FIRST_RESPONSE_FROM_CORE, DEPARTED, ABORTED) and forwards the
// core's journey events, which ride in on EngineCoreOutputs, to the event hub, and with
// --otlp-traces-endpoint both halves to the request spans.
#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "frontend/request_span_recorder.hpp"
#include "proto/event_hub_frame.hpp"
#include "proto/journey_event.hpp"
#include "telemetry/event_publisher.hpp"

namespace waypoint {

struct JourneyTracingConfig {
  bool enabled = false;      // --enable-journey-tracing
  double sample_rate = 1.0;  // --journey-tracing-sample-rate
  uint64_t seed = 0;         // makes the sampling sequence reproducible
};

// The hub's shape of a core journey event: attribute keys of docs/architecture.md, "Observability".
HubEvent journey_hub_event(const RequestJourneyEvent& event, int64_t epoch_offset_ns);

class JourneyRecorder {
 public:
  // `hub` may be null: no hub configured. `spans` may be null: no OTLP
  // export. With neither, events are decided but go nowhere.
  JourneyRecorder(JourneyTracingConfig config, EventPublisher* hub,
                  RequestSpanRecorder* spans = nullptr);

  bool enabled() const { return config_.enabled; }
  // The sampling decision for one request; thread-safe.
  bool sample();

  // Where a sampled HTTP request's spans hang: the client's W3C trace
  // context from `headers` when valid, else a new trace. Empty (and unused)
  // when the request is not traced or no spans are exported.
  RequestSpanStart span_start(bool traced,
                              const std::vector<std::pair<std::string, std::string>>& headers,
                              GenAiRequest request);

  // From the engine client's output thread, before the outputs reach their streams.
  void core_events(int32_t engine_index, const std::vector<RequestJourneyEvent>& events);
  // The engine core died: no core event will come for what is in flight.
  void engine_dead(const std::string& reason);

  // Traced API journeys that have not ended yet.
  int64_t live_states() const { return live_.load(std::memory_order_relaxed); }
  uint64_t dropped() const { return hub_ == nullptr ? 0 : hub_->dropped(); }
  // Requests whose spans are not yet handed to the exporter, and the spans
  // the exporter lost; 0 without OTLP export.
  int64_t span_live_states() const { return spans_ == nullptr ? 0 : spans_->live_states(); }
  uint64_t spans_dropped() const { return spans_ == nullptr ? 0 : spans_->dropped(); }

 private:
  friend class ApiJourney;
  // One API event of `request_id`; `last` for DEPARTED or ABORTED.
  void api_event(const std::string& request_id, HubEvent event, bool last);

  JourneyTracingConfig config_;
  EventPublisher* hub_;
  RequestSpanRecorder* spans_;
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
  // The same, and the request gets spans under `spans` (from span_start)
  // when the recorder exports them.
  ApiJourney(JourneyRecorder& recorder, std::string request_id, int64_t arrived_ns,
             const RequestSpanStart& spans);
  ~ApiJourney();
  ApiJourney(ApiJourney&& other) noexcept;
  ApiJourney& operator=(ApiJourney&& other) noexcept;
  ApiJourney(const ApiJourney&) = delete;
  ApiJourney& operator=(const ApiJourney&) = delete;

  bool traced() const { return recorder_ != nullptr; }
  // traceparent (and tracestate) naming this request's llm_request span, for
  // the EngineCoreRequest, so the core could continue the trace. Nothing
  // without spans.
  void add_trace_headers(std::map<std::string, std::string>& headers) const;
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
  std::string traceparent_;  // empty: no spans
  std::string tracestate_;
};

}  // namespace waypoint
