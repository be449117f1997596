#include "engine_core/journey_tracer.hpp"

#include <algorithm>
#include <cassert>

#include "telemetry/trace_attributes.hpp"

namespace waypoint {

namespace {

RequestPhase running_phase(const Request& r) {
  return r.num_computed_tokens < r.num_prompt_tokens ? RequestPhase::PREFILL
                                                     : RequestPhase::DECODE;
}

}  // namespace

bool JourneyTracer::should_trace(
    const std::optional<std::map<std::string, std::string>>& trace_headers) const {
  if (!enabled_) return false;
  if (!trace_headers) return true;
  auto it = trace_headers->find(std::string(kJourneySampledHeader));
  if (it == trace_headers->end()) return true;
  return !(it->second == "0" || it->second == "false" || it->second == "False");
}

void JourneyTracer::note_progress(Request& r) {
  r.journey_prefill_hiwater =
      std::max(r.journey_prefill_hiwater, std::min(r.num_computed_tokens, r.num_prompt_tokens));
}

RequestJourneyEvent& JourneyTracer::append(Request& r, JourneyEventType type, uint64_t step,
                                           RequestPhase phase) {
  // The high-water mark is brought up to date only at events (and before a
  // preemption): between them nobody reads it, so it costs no per-step work.
  note_progress(r);
  const auto client = static_cast<size_t>(r.client_index);
  if (client >= buffers_.size()) buffers_.resize(client + 1);
  RequestJourneyEvent& e = buffers_[client].emplace_back();
  const int64_t ns = clock_.now_ns();
  e.request_id = r.request_id;
  e.event_type = type;
  e.ts_monotonic_ns = ns;
  e.ts_monotonic = static_cast<double>(ns) * 1e-9;
  e.scheduler_step = step;
  e.prefill_done_tokens = r.journey_prefill_hiwater;
  e.prefill_total_tokens = r.num_prompt_tokens;
  e.decode_done_tokens = r.num_output_tokens();
  e.decode_max_tokens = r.max_tokens;
  e.phase = phase;
  e.num_preemptions = r.num_preemptions;
  return e;
}

void JourneyTracer::queued(Request& r, uint64_t step) {
  ++live_;
  append(r, JourneyEventType::QUEUED, step, RequestPhase::WAITING);
}

void JourneyTracer::scheduled(Request& r, uint64_t step) {
  append(r, JourneyEventType::SCHEDULED, step, running_phase(r)).schedule_kind =
      r.num_preemptions > 0 ? ScheduleKind::RESUME : ScheduleKind::FIRST;
}

void JourneyTracer::first_token(Request& r, uint64_t step) {
  append(r, JourneyEventType::FIRST_TOKEN, step, running_phase(r));
}

void JourneyTracer::preempted(Request& r, uint64_t step) {
  append(r, JourneyEventType::PREEMPTED, step, RequestPhase::WAITING);
}

void JourneyTracer::finished(Request& r, uint64_t step, FinishStatus status, bool was_waiting) {
  append(r, JourneyEventType::FINISHED, step,
         was_waiting ? RequestPhase::WAITING : running_phase(r))
      .finish_status = status;
  --live_;
}

void JourneyTracer::flush_into(std::vector<EngineCoreOutputs>& outputs) {
  if (!enabled_) return;
  assert(outputs.size() >= buffers_.size());
  for (size_t c = 0; c < outputs.size(); ++c) {
    auto& slot = outputs[c].journey_events;
    if (!slot) slot.emplace();
    slot->clear();
    // Swapping hands the batch this step's events and keeps the old
    // vector's capacity for the next step's buffer.
    if (c < buffers_.size()) slot->swap(buffers_[c]);
  }
}

}  // namespace waypoint
