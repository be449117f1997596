#pragma once
// The vLLM V1 scheduler (docs/architecture.md, "Scheduler and KV cache"): each step fills a token
// budget with running requests first, then waiting ones, chunking long prefills and preempting by
// recompute when the KV pool runs out.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/result.hpp"
#include "engine_core/clock.hpp"
#include "engine_core/journey_tracer.hpp"
#include "engine_core/kv_cache_manager.hpp"
#include "engine_core/request.hpp"
#include "engine_core/request_queue.hpp"
#include "engine_core/scheduler_config.hpp"
#include "engine_core/slot_ids.hpp"
#include "engine_core/step_tracer.hpp"
#include "proto/engine_core_output.hpp"
#include "proto/model_runner_output.hpp"
#include "proto/scheduler_output.hpp"

namespace waypoint {

// A step's outputs, indexed by client_index (one entry per frontend seen so
// far). A client with nothing to hear this step has an empty batch.
using StepOutputs = std::vector<EngineCoreOutputs>;

// Frontends are few; the bound keeps a corrupt client_index from sizing a
// per-client table.
inline constexpr int32_t kMaxClients = 256;

class Scheduler {
 public:
  // Throws std::invalid_argument with validate()'s message on a bad config.
  Scheduler(SchedulerConfig config, const Clock& clock);
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a request; refuses one that could never run (see the error).
  Result<void> add_request(const EngineCoreRequest& request);

  // Ends requests at a client's wish. Unknown or already finished ids are
  // ignored: an abort can cross a finish on the wire. Each aborted request's
  // final output (finish_reason ABORT) is delivered with the next outputs.
  void abort_requests(std::span<const std::string> request_ids);

  // Decides the next step. Always advances the step counter, even when
  // nothing is scheduled. The result lives in the scheduler and is valid
  // until the next schedule(): its buffers are reused from step to step, so
  // a steady state allocates nothing.
  const SchedulerOutput& schedule();

  // Applies what the model produced for `step`, the output of the last
  // schedule(): appends tokens, checks stop conditions, frees finished
  // requests. Returns the outputs to send, valid until the next call of
  // update_from_output() or take_pending_outputs(). The engine core fills in
  // the fields that are its own (engine_index, scheduler_stats) in place; the
  // outputs stay as they are, since the next step refills their buffers.
  StepOutputs& update_from_output(const SchedulerOutput& step, const ModelRunnerOutput& result);

  // Outputs of aborts that no step has carried yet; lets an idle engine
  // deliver them without stepping.
  bool has_pending_outputs() const { return !pending_.empty(); }
  StepOutputs& take_pending_outputs();

  bool has_unfinished_requests() const { return !requests_.empty(); }
  int32_t num_running() const { return static_cast<int32_t>(running_.size()); }
  int32_t num_waiting() const { return waiting_.size(); }
  uint64_t scheduler_step() const { return step_; }

  // Gauges now, counters as running totals since the scheduler started.
  SchedulerStats make_stats();

  // --step-tracing-enabled: the record of the step just completed, if it was
  // sampled (see StepTracer). Take it after each update_from_output().
  std::optional<StepRecord> take_step_record() { return step_tracer_.take_record(); }

  // The batch of the step just scheduled, as its step.BATCH_SUMMARY will
  // describe it: valid from schedule() to update_from_output() when the step
  // is sampled (always at sample rate 1), else nullptr. `waypoint sim` reads
  // the step-time model's features here, the same ones `waypoint fit` reads
  // from a trace.
  const BatchSummary* scheduled_summary() const { return step_tracer_.scheduled_summary(); }

  // Traced requests whose journey has not ended: 0 whenever no request is
  // alive, or tracing state leaked.
  int64_t journey_live_states() const { return journey_.live_states(); }

  // --kv-events: the block pool records prefix-cache changes into `log`
  // (nullptr: stop). The log must outlive the scheduler or be detached.
  void set_kv_event_log(KvEventLog* log) { kv_.set_event_log(log); }

  // Drops every prefix-cache entry; refused (false) while any block is in use.
  bool reset_prefix_cache() { return kv_.reset_prefix_cache(); }

  // Read-only views for invariant checks, metrics and the simulator.
  const SchedulerConfig& config() const { return config_; }
  const KVCacheManager& kv_cache() const { return kv_; }
  const std::vector<Request*>& running() const { return running_; }
  const Request* find_request(const std::string& request_id) const;
  template <class F>
  void for_each_request(F&& f) const {
    for (const auto& [id, request] : requests_) f(*request);
  }

 private:
  void preempt(Request* victim);
  void finish(Request* request, RequestStatus status);
  void ensure_clients(size_t n);
  void flush_journey();
  bool check_stop(Request& request) const;
  // Fills the SchedulerOutput; with count_computed, the scheduled tokens then count as
  // computed (see schedule()).
  void build_step(std::span<Request* const> running_scheduled, std::span<Request* const> admitted,
                  bool count_computed);
  void begin_outputs();
  EngineCoreOutput& next_output(int32_t client_index, const std::string& request_id,
                                uint64_t arrival_seq);
  void end_outputs();
  void flush_pending();
  double now_seconds() const { return static_cast<double>(clock_.now_ns()) * 1e-9; }

  SchedulerConfig config_;
  const Clock& clock_;
  KVCacheManager kv_;
  JourneyTracer journey_;
  StepTracer step_tracer_;
  RequestQueue waiting_;
  std::vector<Request*> running_;  // admission order; FCFS preempts from the back
  std::unordered_map<std::string, std::unique_ptr<Request>> requests_;

  // Requests that ended since the last schedule(). Kept alive until then,
  // because the step in flight may still name them.
  std::vector<std::unique_ptr<Request>> retired_;
  std::vector<std::string> finished_since_step_;  // told to the workers next step

  std::vector<Request*> scheduled_;  // the last step's requests, in SchedulerOutput order
  std::vector<Request*> scheduled_running_scratch_;
  std::vector<Request*> admitted_scratch_;
  SchedulerOutput step_out_;
  SlotIds cached_req_ids_;  // of step_out_.scheduled_cached_reqs

  StepOutputs outputs_;
  std::vector<size_t> outputs_used_;  // per client: live entries of outputs_[c].outputs
  std::vector<SlotIds> output_ids_;   // per client: of outputs_[c].outputs

  struct PendingAbort {
    int32_t client_index;
    std::string request_id;
    int32_t num_cached_tokens;
    std::vector<EngineCoreEvent> events;
  };
  std::vector<PendingAbort> pending_;

  uint64_t step_ = 0;
  uint64_t next_arrival_seq_ = 0;
  int64_t num_preemptions_total_ = 0;
  int64_t prefix_cache_queries_total_ = 0;
  int64_t prefix_cache_hits_total_ = 0;
};

}  // namespace waypoint
