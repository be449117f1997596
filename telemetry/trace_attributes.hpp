#pragma once
// The attribute keys and event names of the observability contract
// (docs/architecture.md, "Observability"). They follow vLLM's journey and step tracing, so
// consumers written for vLLM read ours unchanged. Hub payloads, `waypoint events`, the OTLP spans
// and `waypoint fit` all spell them from here.
#include <string_view>

namespace waypoint::attr {

// Every hub event.
inline constexpr std::string_view kEventType = "event.type";
inline constexpr std::string_view kRequestId = "request.id";
inline constexpr std::string_view kTsMonotonic = "ts.monotonic";       // seconds, float
inline constexpr std::string_view kTsMonotonicNs = "ts.monotonic_ns";  // CLOCK_MONOTONIC, ns
inline constexpr std::string_view kTsEpochNs = "ts.epoch_ns";          // wall clock, ns

// Journey events (core).
inline constexpr std::string_view kSchedulerStep = "scheduler.step";
inline constexpr std::string_view kPhase = "phase";
inline constexpr std::string_view kPrefillDoneTokens = "prefill.done_tokens";
inline constexpr std::string_view kPrefillTotalTokens = "prefill.total_tokens";
inline constexpr std::string_view kDecodeDoneTokens = "decode.done_tokens";
inline constexpr std::string_view kDecodeMaxTokens = "decode.max_tokens";
inline constexpr std::string_view kNumPreemptions = "num_preemptions";
inline constexpr std::string_view kScheduleKind = "schedule.kind";
inline constexpr std::string_view kFinishStatus = "finish.status";

// Journey events (API).
inline constexpr std::string_view kNumPromptTokens = "request.num_prompt_tokens";
inline constexpr std::string_view kMaxTokens = "request.max_tokens";
inline constexpr std::string_view kNumOutputTokens = "request.num_output_tokens";
inline constexpr std::string_view kFinishReason = "finish.reason";  // stop / length / ...
inline constexpr std::string_view kAbortReason = "abort.reason";
inline constexpr std::string_view kStream = "request.stream";

// Step events: step.BATCH_SUMMARY. Durations are whole microseconds.
inline constexpr std::string_view kStepId = "step.id";
inline constexpr std::string_view kStepTsStartNs = "step.ts_start_ns";
inline constexpr std::string_view kStepTsEndNs = "step.ts_end_ns";
inline constexpr std::string_view kStepDurationUs = "step.duration_us";
inline constexpr std::string_view kStepScheduleUs = "step.schedule_us";
inline constexpr std::string_view kStepExecuteUs = "step.execute_us";
inline constexpr std::string_view kStepUpdateUs = "step.update_us";
inline constexpr std::string_view kStepGapUs = "step.gap_us";
inline constexpr std::string_view kQueueRunningDepth = "queue.running_depth";
inline constexpr std::string_view kQueueWaitingDepth = "queue.waiting_depth";
inline constexpr std::string_view kBatchNumPrefillReqs = "batch.num_prefill_reqs";
inline constexpr std::string_view kBatchNumDecodeReqs = "batch.num_decode_reqs";
inline constexpr std::string_view kBatchScheduledTokens = "batch.scheduled_tokens";
inline constexpr std::string_view kBatchPrefillTokens = "batch.prefill_tokens";
inline constexpr std::string_view kBatchDecodeTokens = "batch.decode_tokens";
inline constexpr std::string_view kBatchNumFinished = "batch.num_finished";
inline constexpr std::string_view kBatchNumPreempted = "batch.num_preempted";
inline constexpr std::string_view kBatchPrefillCachedTokens = "batch.prefill_cached_tokens";
inline constexpr std::string_view kBatchDecodeCtxTokensSum = "batch.decode_ctx_tokens_sum";
inline constexpr std::string_view kBatchPrefillCtxTokensSum = "batch.prefill_ctx_tokens_sum";
inline constexpr std::string_view kBatchPrefillAttentionPairs = "batch.prefill_attention_pairs";
inline constexpr std::string_view kBatchNumRunningTokens = "batch.num_running_tokens";
inline constexpr std::string_view kKvUsageGpuRatio = "kv.usage_gpu_ratio";
inline constexpr std::string_view kKvBlocksTotalGpu = "kv.blocks_total_gpu";
inline constexpr std::string_view kKvBlocksFreeGpu = "kv.blocks_free_gpu";

// Step events: step.REQUEST_SNAPSHOT (with request.id, request.num_prompt_tokens
// and request.num_output_tokens above).
inline constexpr std::string_view kRequestPhase = "request.phase";
inline constexpr std::string_view kRequestNumComputedTokens = "request.num_computed_tokens";
inline constexpr std::string_view kRequestNumPreemptions = "request.num_preemptions";
inline constexpr std::string_view kRequestScheduledTokensThisStep =
    "request.scheduled_tokens_this_step";
inline constexpr std::string_view kRequestEffectivePromptLen = "request.effective_prompt_len";
inline constexpr std::string_view kKvBlocksAllocatedGpu = "kv.blocks_allocated_gpu";
inline constexpr std::string_view kKvBlocksCachedGpu = "kv.blocks_cached_gpu";

// KV events (vLLM's BlockStored / BlockRemoved / AllBlocksCleared). Hashes
// are the 64-bit chained block hashes, carried as int64 (the same bits).
inline constexpr std::string_view kKvBlockHashes = "kv.block_hashes";
inline constexpr std::string_view kKvParentBlockHash = "kv.parent_block_hash";
inline constexpr std::string_view kKvTokenIds = "kv.token_ids";
inline constexpr std::string_view kKvBlockSize = "kv.block_size";

}  // namespace waypoint::attr

namespace waypoint::event_name {

inline constexpr std::string_view kQueued = "journey.QUEUED";
inline constexpr std::string_view kScheduled = "journey.SCHEDULED";
inline constexpr std::string_view kFirstToken = "journey.FIRST_TOKEN";
inline constexpr std::string_view kPreempted = "journey.PREEMPTED";
inline constexpr std::string_view kFinished = "journey.FINISHED";

inline constexpr std::string_view kArrived = "api.ARRIVED";
inline constexpr std::string_view kHandoffToCore = "api.HANDOFF_TO_CORE";
inline constexpr std::string_view kFirstResponseFromCore = "api.FIRST_RESPONSE_FROM_CORE";
inline constexpr std::string_view kDeparted = "api.DEPARTED";
inline constexpr std::string_view kAborted = "api.ABORTED";

inline constexpr std::string_view kBatchSummary = "step.BATCH_SUMMARY";
inline constexpr std::string_view kRequestSnapshot = "step.REQUEST_SNAPSHOT";

inline constexpr std::string_view kBlockStored = "kv.BlockStored";
inline constexpr std::string_view kBlockRemoved = "kv.BlockRemoved";
inline constexpr std::string_view kAllBlocksCleared = "kv.AllBlocksCleared";

}  // namespace waypoint::event_name

// OpenTelemetry spans (docs/architecture.md, "Observability"): vLLM's span, scope and gen_ai.*
// attribute names (vllm/tracing.py SpanAttributes).
namespace waypoint::attr {

inline constexpr std::string_view kGenAiRequestId = "gen_ai.request.id";
inline constexpr std::string_view kGenAiResponseModel = "gen_ai.response.model";
inline constexpr std::string_view kGenAiRequestMaxTokens = "gen_ai.request.max_tokens";
inline constexpr std::string_view kGenAiRequestTemperature = "gen_ai.request.temperature";
inline constexpr std::string_view kGenAiRequestTopP = "gen_ai.request.top_p";
inline constexpr std::string_view kGenAiRequestN = "gen_ai.request.n";
inline constexpr std::string_view kGenAiUsagePromptTokens = "gen_ai.usage.prompt_tokens";
inline constexpr std::string_view kGenAiUsageCompletionTokens = "gen_ai.usage.completion_tokens";
// Seconds, as doubles.
inline constexpr std::string_view kGenAiLatencyTimeToFirstToken =
    "gen_ai.latency.time_to_first_token";
inline constexpr std::string_view kGenAiLatencyE2e = "gen_ai.latency.e2e";
inline constexpr std::string_view kGenAiLatencyTimeInQueue = "gen_ai.latency.time_in_queue";

// A scheduler_steps span: the steps of its window, [first, last].
inline constexpr std::string_view kStepSpanFirst = "step.first";
inline constexpr std::string_view kStepSpanLast = "step.last";
inline constexpr std::string_view kStepSpanClosureInterval = "step.closure_interval";

// The resource: which program sent the spans.
inline constexpr std::string_view kServiceName = "service.name";
inline constexpr std::string_view kServiceInstanceId = "service.instance.id";

}  // namespace waypoint::attr

namespace waypoint::span_name {

inline constexpr std::string_view kLlmRequest = "llm_request";          // kind SERVER
inline constexpr std::string_view kLlmCore = "llm_core";                // kind INTERNAL
inline constexpr std::string_view kSchedulerSteps = "scheduler_steps";  // kind INTERNAL

}  // namespace waypoint::span_name

namespace waypoint::scope_name {

inline constexpr std::string_view kApi = "vllm.api";
inline constexpr std::string_view kScheduler = "vllm.scheduler";
inline constexpr std::string_view kSchedulerStep = "vllm.scheduler.step";

}  // namespace waypoint::scope_name

namespace waypoint {

// The frontend's sampling decision, carried to the core in trace_headers.
inline constexpr std::string_view kJourneySampledHeader = "x-vllm-journey-sampled";

}  // namespace waypoint
