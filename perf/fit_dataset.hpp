#pragma once
// `waypoint fit`'s training sets: the beta rows (one per step.BATCH_SUMMARY)
// and the alpha rows (one per request, QUEUED -> SCHEDULED and ARRIVED ->
// QUEUED) read from the JSONL that `waypoint events` writes or from OTLP JSON
// exports (perf/fit_otlp_reader), as docs/fit.md describes them. Times in the
// rows are microseconds, as step.duration_us is.
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine_core/step_trace.hpp"

namespace waypoint::fit {

// Why a row is kept out of the fit by default. Flagged rows stay in the CSV
// so that nothing is dropped silently.
inline constexpr std::string_view kFlagWarmup = "warmup";
inline constexpr std::string_view kFlagPreempted = "preempted";

struct StepRow {
  std::int64_t step_id = 0;
  std::int64_t ts_start_ns = 0;
  std::int64_t ts_end_ns = 0;
  double duration_us = 0;
  double prefill_tokens = 0;  // net of prefix-cache hits
  double decode_tokens = 0;
  double decode_ctx_tokens_sum = 0;
  double prefill_ctx_tokens_sum = 0;
  double prefill_attention_pairs = 0;
  double num_prefill_reqs = 0;
  double num_decode_reqs = 0;
  double num_preempted = 0;
  double running_depth = 0;
  double waiting_depth = 0;
  double kv_usage = 0;
  double scheduled_tokens = 0;
  double prefill_cached_tokens = 0;
  double num_finished = 0;
  double gap_us = 0;  // since the previous step's end
  std::string flag;   // "", "warmup" or "preempted"

  double batch_size() const { return num_prefill_reqs + num_decode_reqs; }
};

struct RequestRow {
  std::string request_id;
  std::int64_t queued_ns = 0;
  std::int64_t queued_step = 0;  // scheduler.step at QUEUED: the last step started
  std::int64_t scheduled_ns = 0;
  std::int64_t scheduled_step = 0;
  std::optional<std::int64_t> arrived_ns;  // api.ARRIVED, when the frontend traced it
  std::optional<std::int64_t> handoff_ns;  // api.HANDOFF_TO_CORE
  // The rest of the journey, for the latency hops `waypoint sim` adds
  // around the core (see fit_hops).
  std::optional<std::int64_t> first_token_ns;     // journey.FIRST_TOKEN
  std::optional<std::int64_t> first_response_ns;  // api.FIRST_RESPONSE_FROM_CORE
  std::optional<std::int64_t> finished_ns;        // journey.FINISHED
  std::optional<std::int64_t> departed_ns;        // api.DEPARTED
  // A step was running between the hand-off (or arrival) and QUEUED, so
  // ARRIVED -> QUEUED includes waiting for it to end. The simulator runs that
  // wait itself, so api_to_core is fitted on the other rows.
  bool core_busy = false;
  double prompt_tokens = 0;  // prefill.total_tokens at QUEUED
  // The queue state at QUEUED: the last step summary that ended at or before
  // it; step 0 and zeros when the request was queued before any step.
  std::int64_t state_step = 0;
  double waiting_depth = 0;
  double running_depth = 0;
  double kv_usage = 0;
  std::string flag;

  double queue_wait_us() const { return static_cast<double>(scheduled_ns - queued_ns) / 1e3; }
  std::optional<double> api_to_core_us() const {
    if (!arrived_ns) return std::nullopt;
    return static_cast<double>(queued_ns - *arrived_ns) / 1e3;
  }
};

struct ReadStats {
  std::size_t lines = 0;  // non-empty lines
  // Not JSON, or a known event missing a key; in an OTLP export, the export
  // or one span event of it that could not be read.
  std::size_t malformed = 0;
  std::size_t otlp_lines = 0;   // lines holding an OTLP ExportTraceServiceRequest
  std::size_t span_events = 0;  // events read from those exports
  std::size_t step_events = 0;
  std::size_t journey_events = 0;
  std::size_t ignored_events = 0;   // other event types (snapshots, kv, ...)
  std::size_t unscheduled = 0;      // QUEUED with no SCHEDULED: no alpha row
  std::size_t without_arrival = 0;  // alpha rows with no api.ARRIVED
  std::size_t core_busy = 0;        // alpha rows whose api_to_core waited for a step
};

// The seed's config columns (model, hardware, TP), which a trace does not carry.
struct ConfigLabels {
  std::string model = "unknown";
  std::string hardware = "unknown";
  int tp = 1;
};

struct DatasetOptions {
  std::int64_t warmup_steps = 10;  // steps 1..N are warm-up
  ConfigLabels labels;
};

struct Dataset {
  std::vector<StepRow> steps;        // in time order (step.ts_start_ns)
  std::vector<RequestRow> requests;  // in time order (QUEUED)
  ReadStats stats;
  ConfigLabels labels;
};

// The row a trace would hold for a summary the scheduler has just built: how
// `waypoint sim` prices a step with the features `waypoint fit` fitted.
StepRow step_row(const BatchSummary& summary);

// Called once per malformed line, with its 1-based number and the reason.
using WarnFn = std::function<void(std::size_t line, const std::string& reason)>;

// Reads the whole stream; never fails: a bad line is counted and reported.
// Each line is recognised by itself: an object with "resourceSpans" is an
// OTLP export whose span events are read as `waypoint events` lines; any
// other object is one such line.
Dataset read_dataset(std::istream& in, const DatasetOptions& options, const WarnFn& warn);

// The model's features, in the order of their names (the first is the
// intercept). beta's are the list plus the number of prefill
// requests, a column of the vLLM performance-modelling summary's beta set
// (docs/architecture.md, "Performance model") (a request's first step costs a
// fixed amount more than a decode step, which no sum of tokens or batch size
// can express with non-negative coefficients), and the prefill attention's
// query-key pairs (its cost is quadratic in the prompt; without it a model
// fitted on short prompts cannot price long ones).
const std::vector<std::string>& beta_feature_names();
std::vector<double> beta_features(const StepRow& row);
const std::vector<std::string>& alpha_feature_names();
std::vector<double> alpha_features(const RequestRow& row);

// The training sets: the vLLM performance-modelling summary's columns first,
// then the step-tracing features (docs/step-tracing.md), then the flag.
void write_beta_csv(std::ostream& out, const Dataset& data);
void write_alpha_csv(std::ostream& out, const Dataset& data);

}  // namespace waypoint::fit
