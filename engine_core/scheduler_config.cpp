#include "engine_core/scheduler_config.hpp"

#include <string>

namespace waypoint {

Result<void> StepTracingConfig::validate() const {
  auto rate = [](const char* flag, double value) -> Result<void> {
    if (value >= 0.0 && value <= 1.0) return {};
    return Error{std::string(flag) + " must be between 0 and 1, got " + std::to_string(value)};
  };
  if (auto r = rate("--step-tracing-sample-rate", sample_rate); !r) return r;
  if (auto r = rate("--step-tracing-rich-subsample-rate", rich_subsample_rate); !r) return r;
  if (closure_interval < 1) {
    return Error{"--step-tracing-closure-interval must be at least 1, got " +
                 std::to_string(closure_interval)};
  }
  return {};
}

Result<void> SchedulerConfig::validate() const {
  if (auto r = validate_limits(); !r) return r;
  return validate_num_blocks();
}

Result<void> SchedulerConfig::validate_limits() const {
  if (auto r = step_tracing.validate(); !r) return r;
  auto at_least = [](const char* flag, int64_t value, int64_t min) -> Result<void> {
    if (value >= min) return {};
    return Error{std::string(flag) + " must be at least " + std::to_string(min) + ", got " +
                 std::to_string(value)};
  };
  for (auto r :
       {at_least("--max-num-batched-tokens", max_num_batched_tokens, 1),
        at_least("--max-num-seqs", max_num_seqs, 1), at_least("--max-model-len", max_model_len, 2),
        at_least("--long-prefill-token-threshold", long_prefill_token_threshold, 0),
        at_least("--block-size", block_size, 1)}) {
    if (!r) return r;
  }
  return {};
}

Result<void> SchedulerConfig::validate_num_blocks() const {
  if (num_blocks < 2) {
    return Error{"--num-gpu-blocks-override must be at least 2, got " + std::to_string(num_blocks)};
  }
  // A request may grow to max_model_len tokens and must then fit alone,
  // otherwise it would preempt itself forever.
  const int64_t blocks_per_request = (int64_t{max_model_len} + block_size - 1) / block_size;
  if (num_blocks - 1 < blocks_per_request) {
    return Error{"the KV cache has " + std::to_string(num_blocks - 1) +
                 " usable blocks, fewer than the " + std::to_string(blocks_per_request) +
                 " one request of --max-model-len " + std::to_string(max_model_len) +
                 " tokens needs; raise --num-gpu-blocks-override or the KV memory, or lower "
                 "--max-model-len"};
  }
  return {};
}

}  // namespace waypoint
