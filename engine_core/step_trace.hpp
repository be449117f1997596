#pragma once
// What step tracing records about one sampled scheduler step (docs/step-tracing.md):
// plain data, filled on the step loop, and turned into hub events
// and OTLP span events later, on a sender thread.
#include <cstdint>
#include <string>
#include <vector>

#include "proto/event_hub_frame.hpp"
#include "proto/journey_event.hpp"

namespace waypoint {

// step.BATCH_SUMMARY. Times are CLOCK_MONOTONIC; the durations are whole
// microseconds, truncated, so duration_us >= schedule_us + execute_us + update_us.
struct BatchSummary {
  uint64_t step_id = 0;
  int64_t ts_start_ns = 0;  // schedule() began
  int64_t ts_end_ns = 0;    // update_from_output() ended, the model's output applied
  int64_t duration_us = 0;
  int64_t schedule_us = 0;
  int64_t execute_us = 0;  // from the end of schedule() to the start of update: the workers
  int64_t update_us = 0;
  int64_t gap_us = 0;  // idle between the previous step's end and this step's start

  int32_t running_depth = 0;  // after scheduling
  int32_t waiting_depth = 0;

  int32_t num_prefill_reqs = 0;
  int32_t num_decode_reqs = 0;
  int32_t scheduled_tokens = 0;
  int32_t prefill_tokens = 0;  // computed this step: net of prefix-cache hits
  int32_t decode_tokens = 0;
  int32_t num_finished = 0;
  int32_t num_preempted = 0;

  // Features a step-time model needs (docs/architecture.md, "Observability").
  int32_t prefill_cached_tokens = 0;   // prefix-cache hits of the requests admitted this step
  int64_t decode_ctx_tokens_sum = 0;   // context each decode attends over, summed
  int64_t prefill_ctx_tokens_sum = 0;  // context at the end of each prefill chunk, summed
  // Query-key pairs the prefill attention computes: a chunk of n tokens after
  // c computed ones attends n*c + n(n+1)/2 (causal). Quadratic in the prompt,
  // where prefill_ctx_tokens_sum is linear: what makes long prompts dear.
  int64_t prefill_attention_pairs = 0;
  int64_t num_running_tokens = 0;      // tokens held by the running requests

  double kv_usage = 0.0;  // 1 - free/total, after scheduling
  int32_t kv_blocks_total = 0;
  int32_t kv_blocks_free = 0;
};

// step.REQUEST_SNAPSHOT: one running request, as the step scheduled it.
struct RequestSnapshot {
  std::string request_id;
  RequestPhase phase = RequestPhase::PREFILL;
  int32_t num_prompt_tokens = 0;
  int32_t num_computed_tokens = 0;  // before this step's tokens
  int32_t num_output_tokens = 0;
  int32_t num_preemptions = 0;
  int32_t scheduled_tokens_this_step = 0;
  int32_t effective_prompt_len = 0;  // prompt tokens the prefix cache did not cover
  int32_t kv_blocks_allocated = 0;
  int32_t kv_blocks_cached = 0;  // of those, prefix-cache hits
};

struct StepRecord {
  BatchSummary summary;
  bool rich = false;  // subsampled: snapshots holds every running request
  std::vector<RequestSnapshot> snapshots;
};

// The hub's and the OTLP spans' shape: one BATCH_SUMMARY, then the
// snapshots, keyed by the attribute names of docs/architecture.md, "Observability".
// `epoch_offset_ns` (wall clock minus steady clock) gives ts.epoch_ns.
std::vector<HubEvent> step_hub_events(const StepRecord& record, int64_t epoch_offset_ns);

}  // namespace waypoint
