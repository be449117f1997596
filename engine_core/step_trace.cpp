#include "engine_core/step_trace.hpp"

#include "telemetry/trace_attributes.hpp"

namespace waypoint {

namespace {

void add(HubEvent& e, std::string_view key, AttrValue value) {
  e.attrs.emplace_back(std::string(key), std::move(value));
}

HubEvent batch_summary_event(const BatchSummary& s, int64_t epoch_offset_ns) {
  const auto step = static_cast<int64_t>(s.step_id);
  HubEvent e;
  e.attrs.reserve(32);
  add(e, attr::kEventType, std::string(event_name::kBatchSummary));
  add(e, attr::kTsMonotonicNs, s.ts_end_ns);
  add(e, attr::kTsEpochNs, s.ts_end_ns + epoch_offset_ns);
  add(e, attr::kSchedulerStep, step);
  add(e, attr::kStepId, step);
  add(e, attr::kStepTsStartNs, s.ts_start_ns);
  add(e, attr::kStepTsEndNs, s.ts_end_ns);
  add(e, attr::kStepDurationUs, s.duration_us);
  add(e, attr::kStepScheduleUs, s.schedule_us);
  add(e, attr::kStepExecuteUs, s.execute_us);
  add(e, attr::kStepUpdateUs, s.update_us);
  add(e, attr::kStepGapUs, s.gap_us);
  add(e, attr::kQueueRunningDepth, int64_t{s.running_depth});
  add(e, attr::kQueueWaitingDepth, int64_t{s.waiting_depth});
  add(e, attr::kBatchNumPrefillReqs, int64_t{s.num_prefill_reqs});
  add(e, attr::kBatchNumDecodeReqs, int64_t{s.num_decode_reqs});
  add(e, attr::kBatchScheduledTokens, int64_t{s.scheduled_tokens});
  add(e, attr::kBatchPrefillTokens, int64_t{s.prefill_tokens});
  add(e, attr::kBatchDecodeTokens, int64_t{s.decode_tokens});
  add(e, attr::kBatchNumFinished, int64_t{s.num_finished});
  add(e, attr::kBatchNumPreempted, int64_t{s.num_preempted});
  add(e, attr::kBatchPrefillCachedTokens, int64_t{s.prefill_cached_tokens});
  add(e, attr::kBatchDecodeCtxTokensSum, s.decode_ctx_tokens_sum);
  add(e, attr::kBatchPrefillCtxTokensSum, s.prefill_ctx_tokens_sum);
  add(e, attr::kBatchPrefillAttentionPairs, s.prefill_attention_pairs);
  add(e, attr::kBatchNumRunningTokens, s.num_running_tokens);
  add(e, attr::kKvUsageGpuRatio, s.kv_usage);
  add(e, attr::kKvBlocksTotalGpu, int64_t{s.kv_blocks_total});
  add(e, attr::kKvBlocksFreeGpu, int64_t{s.kv_blocks_free});
  return e;
}

HubEvent snapshot_event(const RequestSnapshot& r, const BatchSummary& s, int64_t epoch_offset_ns) {
  const auto step = static_cast<int64_t>(s.step_id);
  HubEvent e;
  e.attrs.reserve(16);
  add(e, attr::kEventType, std::string(event_name::kRequestSnapshot));
  add(e, attr::kRequestId, r.request_id);
  add(e, attr::kTsMonotonicNs, s.ts_end_ns);
  add(e, attr::kTsEpochNs, s.ts_end_ns + epoch_offset_ns);
  add(e, attr::kSchedulerStep, step);
  add(e, attr::kStepId, step);
  add(e, attr::kRequestPhase, std::string(to_string(r.phase)));
  add(e, attr::kNumPromptTokens, int64_t{r.num_prompt_tokens});
  add(e, attr::kRequestNumComputedTokens, int64_t{r.num_computed_tokens});
  add(e, attr::kNumOutputTokens, int64_t{r.num_output_tokens});
  add(e, attr::kRequestNumPreemptions, int64_t{r.num_preemptions});
  add(e, attr::kRequestScheduledTokensThisStep, int64_t{r.scheduled_tokens_this_step});
  add(e, attr::kRequestEffectivePromptLen, int64_t{r.effective_prompt_len});
  add(e, attr::kKvBlocksAllocatedGpu, int64_t{r.kv_blocks_allocated});
  add(e, attr::kKvBlocksCachedGpu, int64_t{r.kv_blocks_cached});
  return e;
}

}  // namespace

std::vector<HubEvent> step_hub_events(const StepRecord& record, int64_t epoch_offset_ns) {
  std::vector<HubEvent> events;
  events.reserve(1 + record.snapshots.size());
  events.push_back(batch_summary_event(record.summary, epoch_offset_ns));
  for (const RequestSnapshot& r : record.snapshots) {
    events.push_back(snapshot_event(r, record.summary, epoch_offset_ns));
  }
  return events;
}

}  // namespace waypoint
