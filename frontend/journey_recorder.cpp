#include "frontend/journey_recorder.hpp"

#include <chrono>

#include "base/splitmix64.hpp"
#include "telemetry/trace_attributes.hpp"

namespace waypoint {

namespace {

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t system_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}


void add(HubEvent& e, std::string_view key, AttrValue value) {
  e.attrs.emplace_back(std::string(key), std::move(value));
}

}  // namespace

HubEvent journey_hub_event(const RequestJourneyEvent& j, int64_t epoch_offset_ns) {
  HubEvent e;
  e.attrs.reserve(16);
  add(e, attr::kEventType, "journey." + std::string(to_string(j.event_type)));
  add(e, attr::kRequestId, j.request_id);
  add(e, attr::kTsMonotonic, j.ts_monotonic);
  add(e, attr::kTsMonotonicNs, j.ts_monotonic_ns);
  add(e, attr::kTsEpochNs, j.ts_monotonic_ns + epoch_offset_ns);
  add(e, attr::kSchedulerStep, static_cast<int64_t>(j.scheduler_step));
  add(e, attr::kPhase, std::string(to_string(j.phase)));
  add(e, attr::kPrefillDoneTokens, int64_t{j.prefill_done_tokens});
  add(e, attr::kPrefillTotalTokens, int64_t{j.prefill_total_tokens});
  add(e, attr::kDecodeDoneTokens, int64_t{j.decode_done_tokens});
  add(e, attr::kDecodeMaxTokens, int64_t{j.decode_max_tokens});
  add(e, attr::kNumPreemptions, int64_t{j.num_preemptions});
  if (j.schedule_kind) add(e, attr::kScheduleKind, std::string(to_string(*j.schedule_kind)));
  if (j.finish_status) add(e, attr::kFinishStatus, std::string(to_string(*j.finish_status)));
  return e;
}

JourneyRecorder::JourneyRecorder(JourneyTracingConfig config, EventPublisher* hub,
                                 RequestSpanRecorder* spans)
    : config_(config), hub_(hub), spans_(spans), epoch_offset_ns_(system_ns() - steady_ns()) {}

RequestSpanStart JourneyRecorder::span_start(
    bool traced, const std::vector<std::pair<std::string, std::string>>& headers,
    GenAiRequest request) {
  if (!traced || spans_ == nullptr) return {};
  return spans_->start(headers, std::move(request));
}

void JourneyRecorder::engine_dead(const std::string& reason) {
  if (spans_ != nullptr) spans_->engine_dead(reason);
}

bool JourneyRecorder::sample() {
  if (!config_.enabled || config_.sample_rate <= 0.0) return false;
  if (config_.sample_rate >= 1.0) return true;
  const uint64_t n = draws_.fetch_add(1, std::memory_order_relaxed);
  return unit_interval(splitmix64(config_.seed ^ splitmix64(n))) < config_.sample_rate;
}

void JourneyRecorder::core_events(int32_t engine_index,
                                  const std::vector<RequestJourneyEvent>& events) {
  if (events.empty()) return;
  // Spans first: a FINISHED must be in before the request's last tokens
  // reach its HTTP thread, which may then end the request.
  if (spans_ != nullptr) spans_->core_events(events);
  if (hub_ == nullptr) return;
  // Called before the batch's tokens reach their streams: only the copy is
  // paid here, the hub's shape is built on the publisher's thread.
  hub_->publish_deferred(kTopicJourney, "engine-" + std::to_string(engine_index),
                         [events, offset = epoch_offset_ns_] {
                           std::vector<HubEvent> out;
                           out.reserve(events.size());
                           for (const auto& j : events) out.push_back(journey_hub_event(j, offset));
                           return out;
                         });
}

void JourneyRecorder::api_event(const std::string& request_id, HubEvent event, bool last) {
  if (spans_ != nullptr) spans_->api_event(request_id, event, last);
  if (hub_ == nullptr) return;
  std::vector<HubEvent> events;
  events.push_back(std::move(event));
  hub_->publish(kTopicJourney, std::move(events));
}

ApiJourney::ApiJourney(JourneyRecorder& recorder, std::string request_id, int64_t arrived_ns)
    : ApiJourney(recorder, std::move(request_id), arrived_ns, RequestSpanStart{}) {}

ApiJourney::ApiJourney(JourneyRecorder& recorder, std::string request_id, int64_t arrived_ns,
                       const RequestSpanStart& spans)
    : recorder_(&recorder), request_id_(std::move(request_id)) {
  recorder_->live_.fetch_add(1, std::memory_order_relaxed);
  if (recorder_->spans_ != nullptr) {
    TraceParent children = recorder_->spans_->begin(request_id_, spans);
    traceparent_ = format_traceparent(children.trace_id, children.parent_id, children.flags);
    tracestate_ = std::move(children.trace_state);
  }
  recorder_->api_event(request_id_, event(event_name::kArrived, arrived_ns), false);
}

ApiJourney::ApiJourney(ApiJourney&& other) noexcept
    : recorder_(other.recorder_),
      request_id_(std::move(other.request_id_)),
      first_response_sent_(other.first_response_sent_),
      traceparent_(std::move(other.traceparent_)),
      tracestate_(std::move(other.tracestate_)) {
  other.recorder_ = nullptr;
}

ApiJourney& ApiJourney::operator=(ApiJourney&& other) noexcept {
  if (this == &other) return *this;
  if (recorder_ != nullptr) aborted("the request ended without a response");
  recorder_ = other.recorder_;
  request_id_ = std::move(other.request_id_);
  first_response_sent_ = other.first_response_sent_;
  traceparent_ = std::move(other.traceparent_);
  tracestate_ = std::move(other.tracestate_);
  other.recorder_ = nullptr;
  return *this;
}

void ApiJourney::add_trace_headers(std::map<std::string, std::string>& headers) const {
  if (traceparent_.empty()) return;
  headers[std::string(kTraceparentHeader)] = traceparent_;
  if (!tracestate_.empty()) headers[std::string(kTracestateHeader)] = tracestate_;
}

ApiJourney::~ApiJourney() {
  if (recorder_ != nullptr) aborted("the request ended without a response");
}

HubEvent ApiJourney::event(std::string_view type, int64_t ts_ns) const {
  HubEvent e;
  e.attrs.reserve(8);
  add(e, attr::kEventType, std::string(type));
  add(e, attr::kRequestId, request_id_);
  add(e, attr::kTsMonotonic, static_cast<double>(ts_ns) * 1e-9);
  add(e, attr::kTsMonotonicNs, ts_ns);
  add(e, attr::kTsEpochNs, ts_ns + recorder_->epoch_offset_ns_);
  return e;
}

void ApiJourney::handoff(int32_t num_prompt_tokens, int32_t max_tokens, bool stream) {
  if (recorder_ == nullptr) return;
  HubEvent e = event(event_name::kHandoffToCore, steady_ns());
  add(e, attr::kNumPromptTokens, int64_t{num_prompt_tokens});
  add(e, attr::kMaxTokens, int64_t{max_tokens});
  add(e, attr::kStream, stream);
  recorder_->api_event(request_id_, std::move(e), false);
}

void ApiJourney::first_response(int64_t ts_ns) {
  if (recorder_ == nullptr || first_response_sent_) return;
  first_response_sent_ = true;
  recorder_->api_event(request_id_, event(event_name::kFirstResponseFromCore, ts_ns), false);
}

void ApiJourney::departed(int32_t num_output_tokens, std::string_view finish_reason) {
  if (recorder_ == nullptr) return;
  HubEvent e = event(event_name::kDeparted, steady_ns());
  add(e, attr::kNumOutputTokens, int64_t{num_output_tokens});
  add(e, attr::kFinishReason, std::string(finish_reason));
  end(std::move(e));
}

void ApiJourney::aborted(std::string_view reason) {
  if (recorder_ == nullptr) return;
  HubEvent e = event(event_name::kAborted, steady_ns());
  add(e, attr::kAbortReason, std::string(reason));
  end(std::move(e));
}

void ApiJourney::end(HubEvent e) {
  JourneyRecorder* recorder = recorder_;
  recorder_ = nullptr;
  recorder->api_event(request_id_, std::move(e), true);
  recorder->live_.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace waypoint
