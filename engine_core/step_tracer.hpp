#pragma once
// Step tracing in the scheduler (docs/step-tracing.md). Each step reads
// the clock four times (schedule begins and ends, update begins and ends),
// so a summary's duration covers the whole step with the model's execution
// finished, not only the scheduler's CPU time. Sampling has two stages: a
// step is sampled at --step-tracing-sample-rate, and a sampled step is also
// "rich" at --step-tracing-rich-subsample-rate, adding a snapshot of every
// running request. Only sampled steps build a record; with tracing off the
// scheduler pays one boolean check per hook.
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "engine_core/block_pool.hpp"
#include "engine_core/clock.hpp"
#include "engine_core/request.hpp"
#include "engine_core/scheduler_config.hpp"
#include "engine_core/step_trace.hpp"

namespace waypoint {

class StepTracer {
 public:
  StepTracer(const Clock& clock, StepTracingConfig config);

  bool enabled() const { return config_.enabled; }

  // Whether `step` is sampled (stage 0) or rich (stage 1): a pure function of
  // the seed and the step, so a replay or the simulator samples the same steps.
  static bool draw(uint64_t seed, uint64_t step, uint64_t stage, double rate);

  void schedule_begin(uint64_t step);
  // At the end of schedule(), before the scheduled tokens count as computed:
  // `scheduled` is the step's batch, `admitted` the requests it took from
  // the waiting queue, `running` the running list after scheduling.
  void schedule_end(std::span<Request* const> scheduled, std::span<Request* const> admitted,
                    std::span<Request* const> running, int32_t num_waiting, int32_t num_preempted,
                    const BlockPool& pool, int32_t block_size);
  void update_begin();
  void update_end(int32_t num_finished);

  // The last step's record, once it is complete, if the step was sampled.
  std::optional<StepRecord> take_record();

  // Between schedule_end() and update_end() of a sampled step: its summary so
  // far (batch composition, queue and KV state; no timings yet). The
  // simulator prices the step from it before the step "runs".
  const BatchSummary* scheduled_summary() const {
    return sampled_ && between_ ? &record_.summary : nullptr;
  }

 private:
  const Clock& clock_;
  StepTracingConfig config_;
  bool sampled_ = false;
  bool complete_ = false;
  bool between_ = false;  // schedule_end() done, update_end() not yet
  int64_t previous_end_ns_ = -1;  // -1: no step yet, so no gap
  int64_t schedule_end_ns_ = 0;
  int64_t update_begin_ns_ = 0;
  StepRecord record_;
};

}  // namespace waypoint
