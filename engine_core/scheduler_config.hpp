#pragma once
// The scheduler's limits, named after the vLLM flags that set them.
#include <cstdint>
#include <optional>

#include "base/result.hpp"
#include "engine_core/request_queue.hpp"
#include "proto/engine_core_request.hpp"

namespace waypoint {

// Step tracing (docs/step-tracing.md): which steps publish a
// step.BATCH_SUMMARY, and which of those also a step.REQUEST_SNAPSHOT per
// running request.
struct StepTracingConfig {
  bool enabled = false;               // --step-tracing-enabled
  double sample_rate = 0.01;          // --step-tracing-sample-rate
  double rich_subsample_rate = 0.001; // --step-tracing-rich-subsample-rate, of the sampled steps
  int32_t closure_interval = 100;     // --step-tracing-closure-interval: steps per OTLP step span
  uint64_t seed = 0;                  // --seed: which steps are sampled is reproducible

  Result<void> validate() const;
};

struct SchedulerConfig {
  int32_t max_num_batched_tokens = 2048;     // --max-num-batched-tokens: token budget per step
  int32_t max_num_seqs = 256;                // --max-num-seqs
  int32_t max_model_len = 2048;              // --max-model-len: prompt plus output
  int32_t long_prefill_token_threshold = 0;  // --long-prefill-token-threshold; 0 is off
  int32_t block_size = 16;                   // --block-size
  int32_t num_blocks = 0;                    // KV blocks, counting the reserved null block
  bool enable_prefix_caching = true;         // --enable-prefix-caching / --no-enable-prefix-caching
  SchedulingPolicy policy = SchedulingPolicy::FCFS;  // --scheduling-policy fcfs|priority
  std::optional<TokenId> eos_token_id;               // from the model; nil: no EOS stop
  bool enable_journey_tracing = false;               // --enable-journey-tracing
  StepTracingConfig step_tracing;

  // One line naming the offending flag, or ok.
  Result<void> validate() const;
  // The two halves of validate(). A CUDA server knows its block count only once
  // the workers have measured their memory, so it checks the limits first and the
  // block count then.
  Result<void> validate_limits() const;
  Result<void> validate_num_blocks() const;
};

}  // namespace waypoint
