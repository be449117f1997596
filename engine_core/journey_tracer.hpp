#pragma once
// Request journey tracing in the engine core (docs/journey-tracing.md): the
// scheduler reports each transition of a traced request (QUEUED, SCHEDULED,
// FIRST_TOKEN, PREEMPTED, FINISHED) as it happens, with a full progress
// snapshot. Events wait in a buffer per client and ride on that client's next
// EngineCoreOutputs. Nothing here walks the request set: each event costs one
// clock read and one append, and an untraced request costs the scheduler one
// boolean check per transition.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine_core/clock.hpp"
#include "engine_core/request.hpp"
#include "proto/engine_core_output.hpp"
#include "proto/journey_event.hpp"

namespace waypoint {

class JourneyTracer {
 public:
  JourneyTracer(const Clock& clock, bool enabled) : clock_(clock), enabled_(enabled) {}

  bool enabled() const { return enabled_; }

  // Whether a new request is traced: tracing is on, and the frontend's
  // sampling decision (the x-vllm-journey-sampled trace header) did not say
  // no. A request without the header is traced, so in-process callers that
  // know nothing of sampling still see every request.
  bool should_trace(const std::optional<std::map<std::string, std::string>>& trace_headers) const;

  // A traced request enters and leaves here; between the two it has live
  // tracing state (its high-water mark and buffered events). live_states()
  // reads 0 once every traced request has ended, whichever way it ended.
  void queued(Request& request, uint64_t step);
  void scheduled(Request& request, uint64_t step);  // FIRST or RESUME, from num_preemptions
  void first_token(Request& request, uint64_t step);
  // Raises the prefill high-water mark to the request's progress; call it
  // before a preemption throws the progress away.
  static void note_progress(Request& request);
  void preempted(Request& request, uint64_t step);
  // `was_waiting`: the request ended from the waiting queue (an abort), not mid-batch.
  void finished(Request& request, uint64_t step, FinishStatus status, bool was_waiting);

  // Clients that have had events; the batch list handed to flush_into()
  // must cover them.
  size_t num_clients() const { return buffers_.size(); }
  // Moves each client's buffered events into that client's batch, which gets
  // an empty list when it has none (tracing on) and no list at all (off).
  void flush_into(std::vector<EngineCoreOutputs>& outputs);

  int64_t live_states() const { return live_; }

 private:
  RequestJourneyEvent& append(Request& request, JourneyEventType type, uint64_t step,
                              RequestPhase phase);

  const Clock& clock_;
  bool enabled_;
  std::vector<std::vector<RequestJourneyEvent>> buffers_;  // by client_index
  int64_t live_ = 0;
};

}  // namespace waypoint
