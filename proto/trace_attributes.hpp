#pragma once
// The attribute keys and event names of the observability contract
// (DESIGN.md §5). They follow vLLM's journey and step tracing, so consumers
// written for vLLM read ours unchanged. Hub payloads, `waypoint events`, the
// OTLP spans and `waypoint fit` all spell them from here.
#include <string_view>

namespace waypoint::attr {

// Every hub event.
inline constexpr std::string_view kEventType = "event.type";
inline constexpr std::string_view kRequestId = "request.id";
inline constexpr std::string_view kTsMonotonic = "ts.monotonic";        // seconds, float
inline constexpr std::string_view kTsMonotonicNs = "ts.monotonic_ns";   // CLOCK_MONOTONIC, ns
inline constexpr std::string_view kTsEpochNs = "ts.epoch_ns";           // wall clock, ns

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

namespace waypoint {

// The frontend's sampling decision, carried to the core in trace_headers.
inline constexpr std::string_view kJourneySampledHeader = "x-vllm-journey-sampled";

}  // namespace waypoint
